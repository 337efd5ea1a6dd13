// How ferry names a Redis key in what it prints. A key's name can itself be data (a
// session token, an e-mail address, a password-reset code), and ferry's output ends up
// where data must not: a Pulumi Command's stdout is kept in the stack's state, CI keeps
// logs. So a key is shown as its namespace, when that is a plain word (`session`,
// `cache`, `feed`: the part before the first `:`), and a fingerprint of the whole name:
// `session:…#3f9a1c2b7d4e`. The fingerprint is the same on every run and machine, so
// `ferry redis verify --show-keys`, run in a terminal on purpose, finds the key.
import { createHash } from "node:crypto";

const NAMESPACE = /^([A-Za-z][A-Za-z_-]{0,31}):/;

/** The key as text when it is valid UTF-8, else as hex. */
export function printableKey(key: Buffer): string {
  const text = key.toString("utf8");
  return Buffer.from(text, "utf8").equals(key) ? text : `hex:${key.toString("hex")}`;
}

export function keyFingerprint(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 12);
}

/** The key as ferry prints it: namespace and fingerprint, or (`show`) its whole name. */
export function keyLabel(key: Buffer, show = false): string {
  if (show) return `${printableKey(key)} #${keyFingerprint(key)}`;
  const ns = NAMESPACE.exec(key.toString("latin1"))?.[1];
  return `${ns ? `${ns}:` : ""}…#${keyFingerprint(key)}`;
}
