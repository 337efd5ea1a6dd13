// The Cloudflare token: active, and allowed what the program does with it. A token reads
// its own policies only with "API Tokens Read" (GET /user/tokens/{id} and
// /accounts/{id}/tokens/{id} accept nothing else:
// https://developers.cloudflare.com/api/resources/user/subresources/tokens/methods/get/),
// a permission ferry's token should not carry. So each permission is checked by a read it
// grants (an Edit/Write permission grants its reads, https://developers.cloudflare.com/fundamentals/api/get-started/create-token/):
// a refused read proves the permission missing; a read that works cannot prove the write,
// and the line says which permission the write needs.
//
// What the program creates (components/, migrations/): DNS records in the zone (the
// hostnames' records, the certificate's validation records); a Configuration Rule
// (ruleset, phase http_config_settings) unless the zone already runs Full (strict); and
// for a box behind Cloudflare split by weight, a load balancer in the zone with pools and
// monitors in the account.
import type { FerryConfig } from "../../config/schema";
import { placeholderOf } from "../../config/placeholders";
import { Finding, finding } from "./findings";

export const DEFAULT_CLOUDFLARE_API_URL = "https://api.cloudflare.com/client/v4";

interface Envelope<T> {
  success?: boolean;
  errors?: { code?: number; message?: string }[];
  result?: T;
}

interface Answer<T> {
  status: number;
  body: Envelope<T>;
}

async function get<T>(base: string, token: string, path: string): Promise<Answer<T>> {
  const res = await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(20_000) });
  let body: Envelope<T> = {};
  try {
    body = (await res.json()) as Envelope<T>;
  } catch {
    // a proxy's HTML error page: the status says enough
  }
  return { status: res.status, body };
}

const errorsOf = (a: Answer<unknown>) => (a.body.errors ?? []).map((e) => `${e.code ?? "?"} ${e.message ?? ""}`.trim()).join("; ") || `HTTP ${a.status}`;

/** A permission the program's resources need, and the read that shows it is missing. */
interface Need {
  permission: string;
  what: string;
  path: string;
}

export function cloudflareNeeds(config: FerryConfig): Need[] {
  const { zoneId, accountId, sslMode } = config.target.cloudflare;
  const needs: Need[] = [{ permission: "Zone / DNS / Edit", what: "the zone's DNS records", path: `/zones/${zoneId}/dns_records?per_page=1` }];
  if (sslMode !== "strict") {
    needs.push({ permission: "Zone / Config Rules / Edit", what: "the zone's rulesets (the Full (strict) Configuration Rule)", path: `/zones/${zoneId}/rulesets` });
  }
  if (config.source.kind === "vultr" && config.source.weightedSplit) {
    needs.push({ permission: "Zone / Load Balancers / Edit", what: "the zone's load balancers", path: `/zones/${zoneId}/load_balancers` });
    needs.push({ permission: "Account / Load Balancing: Monitors and Pools / Edit", what: "the account's load balancer pools", path: `/accounts/${accountId}/load_balancers/pools?per_page=1` });
  }
  return needs;
}

/** User tokens verify at /user/tokens/verify; account-owned tokens only at their account's. */
async function verify(base: string, token: string, accountId: string): Promise<Answer<{ id?: string; status?: string }>> {
  const user = await get<{ id?: string; status?: string }>(base, token, "/user/tokens/verify");
  if (user.status === 200) return user;
  const account = await get<{ id?: string; status?: string }>(base, token, `/accounts/${accountId}/tokens/verify`);
  return account.status === 200 ? account : user;
}

export async function checkCloudflare(config: FerryConfig, base: string): Promise<Finding[]> {
  const { zoneId, accountId } = config.target.cloudflare;
  if (placeholderOf(zoneId) || placeholderOf(accountId)) {
    return [finding("cloudflare", "skip", "the account and zone ids are still ferry init's stand-ins (reported above)")];
  }
  const token = config.secrets.cloudflareApiToken;
  let verified: Answer<{ id?: string; status?: string }>;
  try {
    verified = await verify(base, token, accountId);
  } catch (e) {
    return [finding("cloudflare", "block", `cannot reach ${base}: ${(e as Error).message}`)];
  }
  if (verified.status !== 200) return [finding("cloudflare", "block", `ferry:cloudflareApiToken is refused: ${errorsOf(verified)}`)];
  const state = verified.body.result?.status;
  if (state !== "active") return [finding("cloudflare", "block", `ferry:cloudflareApiToken is ${state ?? "of unknown status"}, not active`)];
  const findings = [finding("cloudflare", "ok", "ferry:cloudflareApiToken is active")];
  for (const need of cloudflareNeeds(config)) {
    const read = await get(base, token, need.path);
    if (read.status === 200) findings.push(finding("cloudflare", "ok", `reads ${need.what} (writing them needs ${need.permission})`));
    else if (read.status === 403 || read.status === 401) findings.push(finding("cloudflare", "block", `the token may not read ${need.what}: grant it ${need.permission} (${errorsOf(read)})`));
    else findings.push(finding("cloudflare", "block", `reading ${need.what} failed: ${errorsOf(read)}`));
  }
  return findings;
}
