// Comparing a secret someone gave with the one the pooler holds.
import { createHash, timingSafeEqual } from "node:crypto";

/** Constant-time, on digests: neither the content nor the length of the secret leaks through timing. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
