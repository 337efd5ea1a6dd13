// Read the running stack's configuration. Kept apart from parseConfig so tests
// pass a typed or raw config straight in and never depend on Pulumi's global store.
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "./parse";
import type { FerryConfig } from "./schema";

export function loadConfig(): FerryConfig {
  return parseConfig(pulumi.runtime.allConfig());
}
