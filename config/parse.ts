// Raw Pulumi configuration (every value a string, objects as JSON) -> a typed FerryConfig.
// Runs before any resource is declared, so a bad stack fails with one line naming the key.
import type { z } from "zod";
import { FerryConfigError, describeIssues, keyName } from "./errors";
import {
  FerryConfig,
  SECRET_KEYS,
  secretsSchema,
  sourceSchema,
  stageFlagsSchema,
  targetSchema,
} from "./schema";
import { checkCrossReferences } from "./references";
import { findPlaceholders, placeholderLine } from "./placeholders";
import { validateStages } from "./stages";
import { checkStores, resolveStoreSecrets, splitStoreForms, storeSetOf } from "./stores";

const NAMESPACE = "ferry:";
const OBJECT_KEYS = ["source", "target"] as const;
const FLAG_KEYS = Object.keys(stageFlagsSchema.shape);
const KNOWN_KEYS = new Set<string>([...OBJECT_KEYS, ...FLAG_KEYS, ...SECRET_KEYS]);

/** Pulumi hands every value over as a string; objects, numbers and booleans are JSON inside it. */
function decode(key: string, value: string): unknown {
  const trimmed = value.trim();
  if (trimmed === "true" || trimmed === "false") return trimmed === "true";
  if (/^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.parse(trimmed);
    } catch {
      throw new FerryConfigError(`${NAMESPACE}${key}: not valid JSON/YAML structure`);
    }
  }
  return value;
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, root: (path: readonly PropertyKey[]) => string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new FerryConfigError(describeIssues(root, result.error.issues));
  return result.data;
}

/** Collect the `ferry:` keys, rejecting any ferry does not know. */
function ferryValues(raw: Record<string, string>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [fullKey, value] of Object.entries(raw)) {
    if (!fullKey.startsWith(NAMESPACE)) continue;
    const key = fullKey.slice(NAMESPACE.length);
    if (!KNOWN_KEYS.has(key)) {
      throw new FerryConfigError(`${fullKey}: unknown key; allowed: ${[...KNOWN_KEYS].map((k) => NAMESPACE + k).join(", ")}`);
    }
    // Secrets stay strings even when they look like numbers; "" is Pulumi.yaml's "not set".
    if ((SECRET_KEYS as string[]).includes(key)) {
      if (value !== "") values[key] = value;
    } else {
      values[key] = decode(key, value);
    }
  }
  return values;
}

function pick(values: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => values[k] !== undefined).map((k) => [k, values[k]]));
}

export interface ParseOptions {
  /**
   * Let `ferry init`'s stand-ins through (config/placeholders.ts): for the draft init
   * validates, and for what reads a stack without changing anything (the plan, the
   * policies). The program refuses them.
   */
  allowPlaceholders?: boolean;
}

/**
 * Parse and validate a whole stack configuration. `raw` is what
 * `pulumi.runtime.allConfig()` returns: full keys (`ferry:source`) to strings.
 */
export function parseConfig(raw: Record<string, string>, options: ParseOptions = {}): FerryConfig {
  const values = ferryValues(raw);
  for (const key of OBJECT_KEYS) {
    if (values[key] === undefined) {
      throw new FerryConfigError(`${NAMESPACE}${key}: required; see docs/program.md for its shape`);
    }
  }
  if (!options.allowPlaceholders) {
    const [first] = OBJECT_KEYS.flatMap((key) => findPlaceholders(`${NAMESPACE}${key}`, values[key]));
    if (first) throw new FerryConfigError(placeholderLine(first));
  }
  // Named stores (config/stores/) are checked each under its name; the rest reads one per kind.
  const forms = splitStoreForms(values.source, values.target);
  const source = parseWith(sourceSchema, forms.source, (p) => keyName(`${NAMESPACE}source`, p));
  const target = parseWith(targetSchema, forms.target, (p) => keyName(`${NAMESPACE}target`, p));
  const topLevel = (p: readonly PropertyKey[]) => keyName(`${NAMESPACE}${String(p[0] ?? "")}`, p.slice(1));
  const stages = parseWith(stageFlagsSchema, pick(values, FLAG_KEYS), topLevel);
  const stores = storeSetOf(source, target, forms.named);
  checkStores(source, stores);
  const secrets = resolveStoreSecrets(stores, parseWith(secretsSchema, pick(values, SECRET_KEYS), topLevel));
  const config: FerryConfig = { source, target, stages, secrets, stores };
  checkCrossReferences(config);
  validateStages(config);
  return config;
}
