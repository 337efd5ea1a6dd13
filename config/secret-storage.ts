// A secret key set without `--secret` is stored in clear text in Pulumi.<stack>.yaml
// (and usually committed). Pulumi hands the program the list of keys it decrypted
// (PULUMI_CONFIG_SECRET_KEYS, read by `pulumi.runtime.isConfigSecret`), so a key present
// but not on that list was stored in clear: refuse it, naming the key, before any
// resource (or state) can carry it further.
import { FerryConfigError } from "./errors";
import { SECRET_KEYS } from "./schema";

/** Provider keys ferry's stacks use that are secrets too. */
const PROVIDER_SECRET_KEYS = ["vultr:apiKey"];

/** Every full key (`ferry:herokuApiKey`, ...) that must be stored as a secret. */
export const SECRET_CONFIG_KEYS: readonly string[] = [...SECRET_KEYS.map((k) => `ferry:${k}`), ...PROVIDER_SECRET_KEYS];

/**
 * Throws on the first secret key that has a value but was not set with `--secret`.
 * "" is Pulumi.yaml's default for an optional secret left unset, not a value.
 */
export function requireSecretStorage(raw: Record<string, string>, isStoredSecret: (key: string) => boolean): void {
  for (const key of SECRET_CONFIG_KEYS) {
    const value = raw[key];
    if (value === undefined || value === "" || isStoredSecret(key)) continue;
    throw new FerryConfigError(`${key}: set it with --secret (pulumi config set --secret ${key} ...); it is stored in clear text now`);
  }
}
