// Each `pulumi up` runs the program in a new process; the rehearsal loads it afresh
// for every up (rehearsal/stack/fresh-program.ts).
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { loadAfresh } from "../../../rehearsal/stack/fresh-program";

const ROOT = join(__dirname, "..", "..", "..");
type Fixture = { EPOCH: number; NESTED_EPOCH: number; Output: unknown };

describe("the program, loaded afresh for every up", () => {
  test("module-level values are new at every load, in the program and in the project modules it imports; the SDK is one instance", () => {
    const first = loadAfresh<Fixture>(ROOT, "tests/rehearsal/stack/fixtures/epoch-program.ts");
    const second = loadAfresh<Fixture>(ROOT, "tests/rehearsal/stack/fixtures/epoch-program.ts");
    expect(second.EPOCH).not.toBe(first.EPOCH);
    expect(second.NESTED_EPOCH).not.toBe(first.NESTED_EPOCH);
    // The engine's monitor is plugged into the SDK under node_modules: both loads share it.
    expect(second.Output).toBe(first.Output);
  });
});
