// Read the running stack's configuration. Kept apart from parseConfig so tests
// pass a typed or raw config straight in and never depend on Pulumi's global store.
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "./parse";
import type { FerryConfig } from "./schema";
import { requireSecretStorage } from "./secret-storage";

export function loadConfig(): FerryConfig {
  const raw = pulumi.runtime.allConfig();
  // isConfigSecret is marked internal in the SDK's typings but exported by its runtime:
  // it is the only place the program learns which keys were stored encrypted.
  const runtime = pulumi.runtime as unknown as { isConfigSecret(key: string): boolean };
  requireSecretStorage(raw, (key) => runtime.isConfigSecret(key));
  return parseConfig(raw);
}
