// Turn what the mocks received for one resource into the plan's view of it: nested
// inputs flattened to dotted keys, values rendered whole (the Markdown clips them around
// what changed), secrets shown as [secret] (compared by content, so a secret that changes
// still shows up as a change), and a step's output the mocks cannot know said in words.
import { createHash } from "crypto";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { UNREAD } from "../../components/target/app/steps";
import { SECRET_MARK } from "../stack-file";
import type { PlannedResource } from "./diff";

export const KNOWN_AFTER_UP = "(known after pulumi up)";

function isSecret(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isSecret(value);
}

/** Secrets replaced by the mark; for display. */
function reveal(value: unknown, secretsAs: (v: unknown) => unknown): unknown {
  if (isSecret(value)) return secretsAs(value.value);
  if (Array.isArray(value)) return value.map((v) => reveal(v, secretsAs));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v, secretsAs)]));
  return value;
}

const digest = (v: unknown) => `[secret:${createHash("sha256").update(JSON.stringify(v) ?? "").digest("hex").slice(0, 12)}]`;

/** User data and similar inputs are base64 text: show the text, so a reviewer can read the change. */
function decodeText(value: string): string {
  if (value.length < 40 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return value;
  const text = Buffer.from(value, "base64").toString("utf8");
  return /^[\t\n\r\x20-\x7e\u00a0-\uffff]*$/.test(text) && !text.includes("\ufffd") ? `(base64) ${text}` : value;
}

function render(value: unknown): string {
  const text = typeof value === "string" ? decodeText(value) : JSON.stringify(value) ?? "undefined";
  return text.replaceAll(UNREAD, KNOWN_AFTER_UP);
}

/** Flatten objects to dotted keys; arrays and secrets stay whole (one value each). */
function flatten(value: Record<string, unknown>, prefix = ""): [string, unknown][] {
  return Object.entries(value)
    .filter(([k, v]) => !k.startsWith("__") && v !== undefined)
    .flatMap(([k, v]) => (isPlainObject(v) && Object.keys(v).length > 0 ? flatten(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v] as [string, unknown]]));
}

export function plannedResource(type: string, name: string, inputs: Record<string, unknown>, options: Record<string, unknown> = {}): PlannedResource {
  const entries = [...flatten(inputs), ...flatten(options).map(([k, v]) => [`(${k})`, v] as [string, unknown])];
  return {
    type,
    name,
    inputs: Object.fromEntries(entries.map(([k, v]) => [k, render(reveal(v, () => SECRET_MARK))])),
    identity: Object.fromEntries(entries.map(([k, v]) => [k, JSON.stringify(reveal(v, digest)) ?? "undefined"])),
  };
}
