// Local stand-ins for what `ferry doctor` asks: the Heroku Platform API's OAuth
// authorizations and apps, Cloudflare's token verification and the reads each permission
// allows, and `pulumi` / `aws` programs on a PATH of their own. Each refuses what the real
// service refuses: an unknown token is a 401, a permission the token lacks a 403 with
// Cloudflare's "Authentication error", an unknown stack Pulumi's "no stack named" error,
// no credentials the AWS CLI's "Unable to locate credentials".
import { chmodSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signGet } from "../../../dataplane/doctor/sigv4";

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
};

const bearer = (req: IncomingMessage) => /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ""))?.[1];

export interface HerokuToken {
  /** null: an authorizations:create token; seconds: a session token. */
  expiresIn: number | null;
  /** Whether the account's authorization list holds it (false: it works but is not listed). */
  listed?: boolean;
}

export interface HerokuStandIn {
  url: string;
  tokens: Map<string, HerokuToken>;
  /** App name -> Heroku region name. */
  apps: Map<string, string>;
  /** Add-on name -> the app it is attached to, under `attachment`, with its URL (the NAME_URL var). */
  addons: Map<string, { app: string; attachment: string; url: string }>;
  close(): Promise<void>;
}

/** GET /oauth/authorizations, GET /apps/{app} and its addon-attachments and config-vars, Platform API v3 shapes. */
export async function startHeroku(): Promise<HerokuStandIn> {
  const tokens = new Map<string, HerokuToken>();
  const apps = new Map<string, string>();
  const addons = new Map<string, { app: string; attachment: string; url: string }>();
  const attachedTo = (app: string) => [...addons].filter(([, a]) => a.app === app);
  const server = createServer((req, res) => {
    const token = bearer(req);
    if (!token || !tokens.has(token)) return json(res, 401, { id: "unauthorized", message: "Invalid credentials provided." });
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/oauth/authorizations") {
      const listed = [...tokens].filter(([, t]) => t.listed !== false);
      return json(res, 200, listed.map(([value, t], i) => ({
        id: `0000000${i}-89ab-cdef-0123-456789abcdef`,
        description: t.expiresIn === null ? "ferry" : null,
        scope: ["global"],
        access_token: { id: `1000000${i}-89ab-cdef-0123-456789abcdef`, token: value, expires_in: t.expiresIn },
      })));
    }
    const app = /^\/apps\/([^/]+)$/.exec(path);
    if (req.method === "GET" && app) {
      const region = apps.get(decodeURIComponent(app[1]));
      if (!region) return json(res, 404, { id: "not_found", message: "Couldn't find that app." });
      return json(res, 200, { id: "01234567-89ab-cdef-0123-456789abcdef", name: app[1], maintenance: false, web_url: null, region: { id: "59accabd-516d-4f0e-83e6-6e3757701145", name: region }, created_at: "2020-01-01T00:00:00Z", updated_at: "2020-01-01T00:00:00Z" });
    }
    const appPart = /^\/apps\/([^/]+)\/(addon-attachments|config-vars)$/.exec(path);
    if (req.method === "GET" && appPart) {
      const name = decodeURIComponent(appPart[1]);
      if (!apps.has(name)) return json(res, 404, { id: "not_found", message: "Couldn't find that app." });
      const appRef = { id: "01234567-89ab-cdef-0123-456789abcdef", name };
      if (appPart[2] === "config-vars") return json(res, 200, Object.fromEntries(attachedTo(name).map(([, a]) => [`${a.attachment}_URL`, a.url])));
      return json(res, 200, attachedTo(name).map(([addon, a], i) => ({
        id: `2000000${i}-89ab-cdef-0123-456789abcdef`, name: a.attachment, addon: { id: `3000000${i}-89ab-cdef-0123-456789abcdef`, name: addon, app: appRef }, app: appRef,
      })));
    }
    return json(res, 404, { id: "not_found", message: "Not found." });
  });
  const url = await listen(server);
  return { url, tokens, apps, addons, close: () => new Promise((r) => server.close(() => r())) };
}

export type CloudflareGrant = "dns" | "rulesets" | "load_balancers" | "pools";

export interface CloudflareToken {
  status: "active" | "disabled" | "expired";
  /** Account-owned tokens verify only at /accounts/{id}/tokens/verify. */
  owner: "user" | "account";
  grants: CloudflareGrant[];
}

export interface CloudflareStandIn {
  url: string;
  tokens: Map<string, CloudflareToken>;
  close(): Promise<void>;
}

const cfError = (res: ServerResponse, status: number, code: number, message: string) => json(res, status, { success: false, errors: [{ code, message }], messages: [], result: null });

/** /client/v4: token verification and the list reads of DNS records, rulesets, load balancers and pools. */
export async function startCloudflare(accountId: string, zoneId: string): Promise<CloudflareStandIn> {
  const tokens = new Map<string, CloudflareToken>();
  const server = createServer((req, res) => {
    const value = bearer(req);
    const token = value ? tokens.get(value) : undefined;
    const path = (req.url ?? "").split("?")[0];
    const verify = path === "/client/v4/user/tokens/verify" ? "user" : path === `/client/v4/accounts/${accountId}/tokens/verify` ? "account" : undefined;
    if (!token || (verify && token.owner !== verify)) return cfError(res, 401, 1000, "Invalid API Token");
    if (verify) return json(res, 200, { success: true, errors: [], messages: [{ code: 10000, message: "This API Token is valid and active" }], result: { id: "ed17574386854bf78a67040be0a770b0", status: token.status } });
    if (token.status !== "active") return cfError(res, 403, 1000, "Invalid API Token");
    const reads: Record<string, CloudflareGrant> = {
      [`/client/v4/zones/${zoneId}/dns_records`]: "dns",
      [`/client/v4/zones/${zoneId}/rulesets`]: "rulesets",
      [`/client/v4/zones/${zoneId}/load_balancers`]: "load_balancers",
      [`/client/v4/accounts/${accountId}/load_balancers/pools`]: "pools",
    };
    const grant = reads[path];
    if (!grant) return cfError(res, 404, 7003, "Could not route to the path, perhaps your object identifier is invalid?");
    if (!token.grants.includes(grant)) return cfError(res, 403, 10000, "Authentication error");
    return json(res, 200, { success: true, errors: [], messages: [], result: [] });
  });
  const url = `${await listen(server)}/client/v4`;
  return { url, tokens, close: () => new Promise((r) => server.close(() => r())) };
}

export interface StsStandIn {
  url: string;
  close(): Promise<void>;
}

const stsError = (res: ServerResponse, code: string, message: string) => {
  res.writeHead(403, { "Content-Type": "text/xml" });
  res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>`);
};

/**
 * STS's GetCallerIdentity (query API): answers only a request signed with the one key pair
 * it knows, checked by signing the same request again (the signer is checked against AWS's
 * published examples in sigv4.test.ts).
 */
export async function startSts(keys: { accessKeyId: string; secretAccessKey: string; region: string }): Promise<StsStandIn> {
  const server = createServer((req, res) => {
    const auth = String(req.headers.authorization ?? "");
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/sts\/aws4_request, /.exec(auth);
    if (!m || m[1] !== keys.accessKeyId) return stsError(res, "InvalidClientTokenId", "The security token included in the request is invalid.");
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    const expected = signGet(url, m[3], "sts", keys, String(req.headers["x-amz-date"])).authorization;
    if (m[3] !== keys.region || expected !== auth) return stsError(res, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
    if (url.searchParams.get("Action") !== "GetCallerIdentity") return stsError(res, "InvalidAction", "Could not find operation.");
    res.writeHead(200, { "Content-Type": "text/xml" });
    res.end(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/ops</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>`);
  });
  const url = await listen(server);
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}

const script = (dir: string, name: string, body: string) => {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
};

export interface FakeTools {
  /** A PATH holding exactly what the test put there. */
  bin: string;
  /** `pulumi config --json --show-secrets --stack NAME` prints this stack's file. */
  setStack(name: string, config: Record<string, { value: string; secret: boolean }>): void;
  /** A real program linked into the PATH (pg_dump, pg_restore). */
  link(name: string, target: string): void;
  /** A program that prints `output` for any arguments. */
  fake(name: string, output: string): void;
}

/**
 * `pulumi` answers `version` and `config --json --show-secrets --stack NAME` from a file
 * per stack (Pulumi's error for a stack that does not exist otherwise); `aws` answers
 * `sts get-caller-identity` only when AWS_ACCESS_KEY_ID is the one given here.
 */
export function fakeTools(opts: { pulumi: boolean; awsAccessKeyId: string; aws?: boolean }): FakeTools {
  const bin = mkdtempSync(join(tmpdir(), "ferry-doctor-bin-"));
  const stacks = mkdtempSync(join(tmpdir(), "ferry-doctor-stacks-"));
  if (opts.pulumi) {
    script(bin, "pulumi", [
      'if [ "$1" = version ]; then echo v3.248.0; exit 0; fi',
      'if [ "$1" != config ]; then echo "unexpected: $*" >&2; exit 2; fi',
      'stack=""; while [ $# -gt 0 ]; do if [ "$1" = --stack ]; then stack="$2"; fi; shift; done',
      `f="${stacks}/$stack.json"`,
      `if [ ! -f "$f" ]; then echo "error: no stack named '$stack' found" >&2; exit 255; fi`,
      'exec /bin/cat "$f"',
    ].join("\n"));
  }
  if (opts.aws !== false) script(bin, "aws", [
    'if [ "$1 $2" != "sts get-caller-identity" ]; then echo "unexpected: $*" >&2; exit 2; fi',
    `if [ "$AWS_ACCESS_KEY_ID" != "${opts.awsAccessKeyId}" ]; then echo "" >&2; echo 'Unable to locate credentials. You can configure credentials by running "aws configure".' >&2; exit 253; fi`,
    `echo '{"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ops"}'`,
  ].join("\n"));
  return {
    bin,
    setStack: (name, config) => writeFileSync(join(stacks, `${name}.json`), JSON.stringify(config)),
    link: (name, target) => symlinkSync(target, join(bin, name)),
    fake: (name, output) => script(bin, name, `/bin/cat <<'OUT'\n${output}\nOUT`),
  };
}
