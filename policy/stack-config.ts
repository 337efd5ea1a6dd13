// The ferry configuration a policy judges against. Policies cannot read stack config,
// and stack outputs are empty during previews, so the pack reads the same
// `Pulumi.<stack>.yaml` the program runs with: the stack name comes from the URN, the
// project is the directory above this pack. Policy config `stackFile` overrides the path
// (stacks whose config lives elsewhere, and the unit tests).
import * as path from "path";
import type { FerryConfig } from "../config";
import { readStackConfig, stackFilePath } from "./stack-file";

export const PROJECT_DIR = path.resolve(__dirname, "..");

/** The policy config schema every stage-aware policy declares. */
export const STACK_CONFIG_SCHEMA = {
  properties: { stackFile: { type: "string" as const, description: "Path of the Pulumi.<stack>.yaml to judge against (default: next to Pulumi.yaml)" } },
};

export interface StackConfigArgs {
  /** Any URN of the stack: `urn:pulumi:<stack>::<project>::<type>::<name>`. */
  urn: string;
  getConfig<T extends object>(): T;
}

export function stackOfUrn(urn: string): string {
  const match = /^urn:pulumi:([^:]+)::/.exec(urn);
  if (!match) throw new Error(`cannot tell the stack from URN ${urn}`);
  return match[1];
}

// One pack process judges one deployment: parse its stack file once.
const cache = new Map<string, FerryConfig>();

/** The stack's parsed ferry config; throws one line if it cannot be read. */
export function ferryConfigOf(args: StackConfigArgs): FerryConfig {
  const file = args.getConfig<{ stackFile?: string }>().stackFile ?? stackFilePath(PROJECT_DIR, stackOfUrn(args.urn));
  const known = cache.get(file);
  if (known) return known;
  const config = readStackConfig(file);
  cache.set(file, config);
  return config;
}
