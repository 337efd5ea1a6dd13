// Read a stack's `Pulumi.<stack>.yaml` the way Pulumi hands config to the program:
// every value a string, objects as JSON. Without the Pulumi CLI the encrypted
// (`secure:`) values cannot be decrypted, so each one becomes a placeholder that passes
// its key's validation; the policies and the stage plan need the stage flags and the
// shapes, never the secrets themselves.
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { parseConfig, storeUrlStandins } from "../config";
import type { FerryConfig } from "../config";

/** What a secret reads as in the plan: never the ciphertext, never a guess. */
export const SECRET_MARK = "[secret]";

/** Valid-shaped stand-ins for ferry's secrets (checked by config/schema.ts). */
const PLACEHOLDERS: Record<string, string> = {
  "ferry:cloudflareApiToken": SECRET_MARK,
  "ferry:herokuApiKey": SECRET_MARK,
  "ferry:sourceDatabaseUrl": "postgres://placeholder:placeholder@source.invalid:5432/placeholder",
  "ferry:sourceRedisUrl": "redis://:placeholder@source.invalid:6379/0",
  "ferry:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nplaceholder\n-----END OPENSSH PRIVATE KEY-----",
  "ferry:targetPostgresPassword": "placeholder-password-0000",
  "ferry:targetRedisPassword": "placeholder-password-0000",
};

function isSecure(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value;
}

function asConfigString(key: string, value: unknown): string {
  if (isSecure(value)) return PLACEHOLDERS[key] ?? SECRET_MARK;
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

/** `Pulumi.<stack>.yaml` text -> the raw config map (`ferry:cutover` -> "true"). */
export function rawConfigFromYaml(text: string, file: string): Record<string, string> {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (e) {
    throw new Error(`${file}: not valid YAML (${(e as Error).message.split("\n")[0]})`);
  }
  const config = (doc as { config?: unknown } | undefined)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new Error(`${file}: "config" must be a map of keys to values`);
  return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, asConfigString(key, value)]));
}

/** The stack file of `stack` in the project directory (where Pulumi.yaml lives). */
export function stackFilePath(projectDir: string, stack: string): string {
  return path.join(projectDir, `Pulumi.${stack}.yaml`);
}

/**
 * Read and validate a stack file; a bad file fails with one line naming it. Secrets
 * set elsewhere (an ESC environment, `--config` on the command line) get stand-ins
 * too: judging stages needs their presence at most, and preview checks them for real.
 */
export function readStackConfig(file: string): FerryConfig {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such stack file`);
  const raw = rawConfigFromYaml(fs.readFileSync(file, "utf8"), file);
  // Named stores (config/stores/) read their URLs from one map per kind: stand-ins per store.
  const standins = storeUrlStandins(raw["ferry:source"], PLACEHOLDERS);
  const readable = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v === SECRET_MARK && standins[k] ? standins[k] : v]));
  // The plan and the policies change nothing: a drafted stack with `ferry init`'s TODO
  // stand-ins is still priced and judged; the program and `ferry doctor` refuse them.
  return parseConfig({ ...standins, ...readable }, { allowPlaceholders: true });
}
