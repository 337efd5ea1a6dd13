// The report's "the cutover command measured its own write fence" line comes from the
// cutover step's JSON, as the state keeps it: `ferry cutover` where both stores move,
// `ferry pg cutover` where Postgres moves alone.
import { describe, expect, it } from "vitest";
import { cutoverFigures } from "../../../rehearsal/stack/rehearse";

const command = (name: string, stdout: unknown) => ({ name, type: "command:local:Command", outputs: { stdout: typeof stdout === "string" ? stdout : JSON.stringify(stdout, null, 2) } });

describe("cutoverFigures", () => {
  it("reads the combined cutover's window and Postgres lag", () => {
    const f = cutoverFigures([command("ferry-cutover-stores", { ok: true, writeUnavailableMs: 1274, postgres: { strategy: "logical", lagBytesAtFence: 1576 }, steps: [] })]);
    expect(f).toMatchObject({ writeUnavailableMs: 1274, lagBytesAtFence: 1576 });
  });

  it("reads a Postgres-only cutover", () => {
    expect(cutoverFigures([command("ferry-cutover-pg", { ok: true, writeUnavailableMs: 880, lagBytesAtFence: 0 })])).toMatchObject({ writeUnavailableMs: 880, lagBytesAtFence: 0 });
  });

  it("says nothing rather than guess: no cutover step, no JSON, or a verify step's output", () => {
    expect(cutoverFigures([])).toEqual({});
    expect(cutoverFigures([command("ferry-cutover-stores", "not json")])).toEqual({});
    expect(cutoverFigures([command("ferry-cutover-pg-verify", { ok: true, writeUnavailableMs: 5 })])).toEqual({});
  });
});
