// A fleet of app processes (dynos, tasks, units): one that exits on its own is replaced,
// as each platform replaces it; one stopped on purpose (scaled down, rolled) is not.
import { describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Fleet } from "../../../rehearsal/stack/standins/fleet";
import { tempDir } from "../../../rehearsal/servers";
import { eventually } from "../../support/eventually";

function fleet(command: string) {
  const logsDir = tempDir("fleet-logs");
  const lines: string[] = [];
  const f = new Fleet(
    { name: "unit", platform: "box", http: false, env: {}, launch: { kind: "unit", appDir: logsDir, command } },
    { logsDir, schema: "public", machineEnv: {}, log: (l) => lines.push(l), changed: async () => undefined },
  );
  return { f, lines, log: () => readFileSync(join(logsDir, "unit.log"), "utf8") };
}

describe("a fleet of app processes", { timeout: 60_000 }, () => {
  test("a process that exits on its own is replaced", async () => {
    const { f, lines, log } = fleet("echo started; sleep 0.5; exit 3");
    await f.scale(1);
    await eventually("the crashed process's replacement to start", () => log().includes("unit.2: started"));
    expect(lines.some((l) => /unit\.1 exited on its own \(exit 3\): replaced/.test(l))).toBe(true);
    await f.stop();
  });

  test("a process stopped on purpose is not replaced", async () => {
    const { f, lines, log } = fleet("echo started; exec sleep 60");
    await f.scale(1);
    await eventually("the process to start", () => log().includes("unit.1: started"));
    await f.stop();
    expect(f.size()).toBe(0);
    expect(lines.filter((l) => /exited on its own/.test(l))).toEqual([]);
  });
});
