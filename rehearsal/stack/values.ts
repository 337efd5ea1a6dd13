// Values as the mock monitor hands them over: secrets arrive wrapped in Pulumi's
// signature object. Realizers want plain values; the state file wants secrets sealed.
import * as rpc from "@pulumi/pulumi/runtime/rpc";


export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

const SEALED = "@sealed";

function isSecret(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[rpc.specialSigKey] === rpc.specialSecretSig;
}

/** The value with every secret wrapper removed (unknowns stay as the SDK's marker). */
export function plainValue(value: unknown): unknown {
  if (isSecret(value)) return plainValue(value.value);
  if (Array.isArray(value)) return value.map(plainValue);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainValue(v)]));
  return value;
}

/** Every secret sealed, for the state file: the file never holds one in the clear. */
export function sealSecrets(value: unknown, box: SecretBox): unknown {
  if (isSecret(value)) return { [SEALED]: box.seal(JSON.stringify(plainValue(value.value) ?? null)) };
  if (Array.isArray(value)) return value.map((v) => sealSecrets(v, box));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sealSecrets(v, box)]));
  return value;
}

/** The inverse of sealSecrets: sealed values come back wrapped as secrets. */
export function unsealSecrets(value: unknown, box: SecretBox): unknown {
  if (Array.isArray(value)) return value.map((v) => unsealSecrets(v, box));
  if (value && typeof value === "object") {
    const sealed = (value as Record<string, unknown>)[SEALED];
    if (typeof sealed === "string") return asSecret(JSON.parse(box.open(sealed)));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unsealSecrets(v, box)]));
  }
  return value;
}

function asSecret(value: unknown): unknown {
  return { [rpc.specialSigKey]: rpc.specialSecretSig, value };
}

/** Every string a Pulumi secret holds inside `value` (the whole of it when `value` is a secret). */
export function secretStrings(value: unknown, inSecret = false): string[] {
  if (isSecret(value)) return secretStrings(value.value, true);
  if (Array.isArray(value)) return value.flatMap((v) => secretStrings(v, inSecret));
  if (value && typeof value === "object") return Object.values(value).flatMap((v) => secretStrings(v, inSecret));
  return inSecret && typeof value === "string" && value !== "" ? [value] : [];
}

function containsSecret(value: unknown): boolean {
  if (isSecret(value)) return true;
  if (value && typeof value === "object") return Object.values(value).some(containsSecret);
  return false;
}

/**
 * A provider's outputs echo its inputs; an output whose input was (or held) a secret
 * stays secret, as the engine keeps it.
 */
export function keepSecrecy(raw: Record<string, unknown>, outputs: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => {
    if (!containsSecret(raw[k])) return [k, v];
    return [k, JSON.stringify(plainValue(raw[k])) === JSON.stringify(v) ? raw[k] : asSecret(v)];
  }));
}
