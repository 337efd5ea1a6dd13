// Each named store's source URL. One secret per kind holds them all, as a JSON object of
// store name -> URL (`pulumi config set --secret ferry:sourceDatabaseUrls '{"main": ...}'`),
// so the whole value is stored encrypted like every other secret key (secret-storage.ts).
// An unnamed store keeps its own key (ferry:sourceDatabaseUrl). No message here ever
// carries a value: a URL holds its password.
import { z } from "zod";
import { FerryConfigError, describeIssues, keyName } from "../errors";
import { Secrets, url } from "../schema";
import { isNamedForm, StoreKind } from "./forms";
import type { StoreSet } from "./model";

const KEYS = {
  postgres: { one: "sourceDatabaseUrl", many: "sourceDatabaseUrls", schemes: ["postgres", "postgresql"], example: "postgres://..." },
  redis: { one: "sourceRedisUrl", many: "sourceRedisUrls", schemes: ["redis", "rediss"], example: "rediss://..." },
} as const;

function fail(message: string): never {
  throw new FerryConfigError(message);
}

function decodeMap(key: string, value: string, schemes: readonly string[]): Record<string, string> {
  const shape = `expected a JSON object of store name -> ${schemes.join(" or ")} URL`;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return fail(`${key}: ${shape}`);
  }
  const parsed = z.record(z.string(), url([...schemes]), { error: shape }).safeParse(json);
  if (!parsed.success) fail(describeIssues((p) => keyName(key, p), parsed.error.issues));
  return parsed.data;
}

/** The named stores' URLs of one kind, checked against the stores; the first store's is the view's. */
function namedUrls(kind: StoreKind, stores: StoreSet, secrets: Secrets): string | undefined {
  const keys = KEYS[kind];
  const many = `ferry:${keys.many}`;
  const names = stores[kind].map((s) => s.name);
  if (secrets[keys.one]) fail(`ferry:${keys.one}: ferry:source.${kind} names its stores (${names.join(", ")}); set each one's URL in ${many} instead`);
  const raw = secrets[keys.many];
  if (names.length === 0) return undefined;
  const urls = raw ? decodeMap(many, raw, keys.schemes) : {};
  for (const name of Object.keys(urls)) {
    if (!names.includes(name)) fail(`${many}.${name}: no store ${name} in ferry:source.${kind} (${names.join(", ")})`);
  }
  const missing = stores[kind].find((s) => !urls[s.name]);
  if (missing) {
    fail(`${many}.${missing.name}: required because ${missing.key} is declared; set every store's URL as one secret: pulumi config set --secret ${many} '{${names.map((n) => `"${n}": "${keys.example}"`).join(", ")}}'`);
  }
  return urls[names[0]];
}

/**
 * The secrets with each kind's view filled in: the unnamed key as given, or the first named
 * store's URL from the map, so the program's one-store reads keep working.
 */
export function resolveStoreSecrets(stores: StoreSet, secrets: Secrets): Secrets {
  const resolved = { ...secrets };
  for (const kind of ["postgres", "redis"] as const) {
    const keys = KEYS[kind];
    if (!stores.named[kind]) {
      if (secrets[keys.many]) fail(`ferry:${keys.many}: only for named stores; ferry:source.${kind} declares one unnamed store, whose URL is ferry:${keys.one}`);
      continue;
    }
    resolved[keys.one] = namedUrls(kind, stores, secrets);
  }
  return resolved;
}

/** Every URL of a kind: the secrets a store's steps would be given (never logged). */
export function storeUrl(kind: StoreKind, name: string, stores: StoreSet, secrets: Secrets): string | undefined {
  const keys = KEYS[kind];
  if (!stores.named[kind]) return secrets[keys.one];
  const raw = secrets[keys.many];
  return raw ? decodeMap(`ferry:${keys.many}`, raw, keys.schemes)[name] : undefined;
}

/**
 * Secret stand-ins for a stack read without its secrets (`ferry init`'s draft, the plan and
 * the policies): a kind whose stores are named gets its URL map, one stand-in URL per store,
 * in place of the unnamed key's. `source` is ferry:source as Pulumi hands it (JSON) or decoded.
 */
export function storeUrlStandins(source: unknown, standins: Record<string, string>): Record<string, string> {
  let decoded = source;
  if (typeof source === "string") {
    try {
      decoded = JSON.parse(source);
    } catch {
      return standins;
    }
  }
  const out = { ...standins };
  for (const kind of ["postgres", "redis"] as const) {
    const stores = (decoded as Record<string, unknown> | undefined)?.[kind];
    const one = `ferry:${KEYS[kind].one}`;
    if (!isNamedForm(stores) || out[one] === undefined) continue;
    out[`ferry:${KEYS[kind].many}`] = JSON.stringify(Object.fromEntries(Object.keys(stores).map((name) => [name, out[one]])));
    delete out[one];
  }
  return out;
}
