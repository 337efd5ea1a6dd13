// Tests that need something of the machine (a tool, root) skip where it is missing: a
// developer's laptop. CI (process.env.CI set; .ci/run sets it) has everything
// scripts/setup-system.sh sets up, so there a missing precondition is a failing test
// that names it, never a silent skip.
import { it } from "vitest";

/**
 * Whether the tests that need `what` may run. In CI, when it is missing, registers a
 * failing test saying so; call it while a file's tests are collected (top level).
 */
export function precondition(present: boolean, what: string): boolean {
  if (!present && process.env.CI) {
    it(`precondition: ${what}`, () => {
      throw new Error(`missing in CI: ${what}. CI runs as root with what scripts/setup-system.sh installs; these tests must run there, not skip`);
    });
  }
  return present;
}
