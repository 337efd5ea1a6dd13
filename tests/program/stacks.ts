// The example stacks (Pulumi.staging.yaml: heroku, Pulumi.prod.yaml: vultr) as Pulumi
// hands them to the program, with fake secrets and the stage flags a test asks for.
import * as fs from "fs";
import * as path from "path";

// js-yaml ships with @pulumi/pulumi; the example stack files are YAML.
const yaml = require("js-yaml") as { load(text: string): unknown };

export const FAKE_SECRETS = {
  "ferry:cloudflareApiToken": "cf-token-SECRET-0001",
  "ferry:herokuApiKey": "heroku-key-SECRET-0002",
  "ferry:sourceDatabaseUrl": "postgres://app:pgpass-SECRET-0003@source.example.net:5432/app",
  "ferry:sourceRedisUrl": "rediss://:redispass-SECRET-0004@source.example.net:6380/0",
  "ferry:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nsshkey-SECRET-0005\n-----END OPENSSH PRIVATE KEY-----",
  "ferry:targetPostgresPassword": "targetpg-SECRET-0006xx",
  "ferry:targetRedisPassword": "targetredis-SECRET-0007",
};
export const SECRET_MARK = "SECRET-000";

/** A stack file as Pulumi hands it to the program: every value a string, objects as JSON. */
export function stackConfig(stack: "staging" | "prod"): Record<string, string> {
  const file = path.join(__dirname, "..", "..", `Pulumi.${stack}.yaml`);
  const parsed = yaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
  const raw = Object.fromEntries(
    Object.entries(parsed.config).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]),
  );
  return { ...raw, ...FAKE_SECRETS };
}

export type Flags = Partial<Record<"replicate" | "proxy" | "cutover" | "decommission", boolean>> & { trafficPercent?: number; hold?: Record<string, string> };

export function withFlags(raw: Record<string, string>, flags: Flags): Record<string, string> {
  const out = { ...raw };
  for (const [k, v] of Object.entries(flags)) out[`ferry:${k}`] = typeof v === "object" ? JSON.stringify(v) : String(v);
  return out;
}

/** Stage flags for "everything up to and including `stage`". */
export function upTo(stage: "provision" | "replicate" | "proxy" | "cutover" | "decommission", extra: Flags = {}): Flags {
  const order = ["replicate", "proxy", "cutover", "decommission"] as const;
  const n = stage === "provision" ? 0 : order.indexOf(stage) + 1;
  return { ...Object.fromEntries(order.map((f, i) => [f, i < n])), ...extra };
}
