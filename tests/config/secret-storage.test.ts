import { describe, expect, it } from "vitest";
import { SECRET_CONFIG_KEYS, requireSecretStorage } from "../../config";

const stored = (keys: string[]) => (key: string) => keys.includes(key);

describe("requireSecretStorage", () => {
  it("passes secrets stored encrypted, unset ones, and Pulumi.yaml's empty default", () => {
    const raw = { "ferry:cloudflareApiToken": "t", "ferry:herokuApiKey": "", "ferry:source": "{}" };
    expect(() => requireSecretStorage(raw, stored(["ferry:cloudflareApiToken"]))).not.toThrow();
  });

  it.each(SECRET_CONFIG_KEYS)("refuses %s stored in clear text, naming it and the fix", (key) => {
    expect(() => requireSecretStorage({ [key]: "value" }, stored([]))).toThrow(
      `${key}: set it with --secret (pulumi config set --secret ${key} ...); it is stored in clear text now`,
    );
  });

  it("never echoes the value", () => {
    expect(() => requireSecretStorage({ "ferry:sourceDatabaseUrl": "postgres://u:hunter2@h/db" }, stored([]))).toThrow(/^(?!.*hunter2)/);
  });
});
