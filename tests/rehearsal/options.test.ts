import { describe, expect, test } from "vitest";
import { parseStackOptions } from "../../rehearsal/stack/main";
import { describeMissing } from "../../rehearsal/prerequisites";
import { parseSize, planSample } from "../../rehearsal/seed";

describe("stack rehearsal options", () => {
  test("defaults: the staging stack, small, every stage flag", () => {
    const o = parseStackOptions([]);
    expect(o).toMatchObject({ stackName: "staging", sizeRows: 20_000, splitSteps: [10, 50], upTo: "decommission" });
    expect(o.stackFile).toMatch(/Pulumi\.staging\.yaml$/);
    expect(o.rollbackFrom).toBeUndefined();
    const plan = planSample(parseSize("1000000"));
    expect(plan.accounts + plan.accounts * plan.followsPerAccount + plan.statuses).toBe(1_000_000);
  });

  test("bad input fails naming the flag", () => {
    expect(() => parseStackOptions(["--stack", "nope"])).toThrow(/--stack: no stack file .*Pulumi\.nope\.yaml/);
    expect(() => parseStackOptions(["--stack-file", "/nowhere/Pulumi.x.yaml"])).toThrow(/--stack-file: no stack file/);
    expect(() => parseStackOptions(["--split", "10,150"])).toThrow(/--split/);
    expect(() => parseStackOptions(["--rollback-from", "sideways"])).toThrow(/--rollback-from must be one of provision, replicate, proxy, cutover, decommission/);
    expect(() => parseSize("tiny")).toThrow(/--size must be "small", a row count of at least 1000, or a database size such as 1gb or 500mb/);
    expect(() => parseStackOptions(["--size", "5mb"])).toThrow(/--size 5mb: at least 10mb/);
  });

  test("--fail-cutover-once: a kill in the window (recorded, the default, or fenced) or the data plane's own injected failure (gate, verify)", async () => {
    const { injectedFailureEnv } = await import("../../rehearsal/stack/failed-cutover");
    expect(parseStackOptions(["--fail-cutover-once"]).failCutoverOnce).toBe("recorded");
    for (const point of ["fenced", "gate", "verify"]) expect(parseStackOptions(["--fail-cutover-once", point]).failCutoverOnce).toBe(point);
    expect(() => parseStackOptions(["--fail-cutover-once", "sometimes"])).toThrow(/--fail-cutover-once takes recorded \(the default\), fenced, gate or verify/);
    expect(injectedFailureEnv("verify")).toEqual({ FERRY_REHEARSAL: "1", FERRY_INJECT_FAILURE: "pg-verify" });
    expect(injectedFailureEnv("gate")).toEqual({ FERRY_REHEARSAL: "1", FERRY_INJECT_FAILURE: "pg-gate" });
    expect(injectedFailureEnv("recorded")).toEqual({});
  });

  test("--size takes a database size: gigabytes or megabytes; rows and small as before", () => {
    expect(parseStackOptions(["--size", "1gb"])).toMatchObject({ sizeBytes: 1024 ** 3, sizeLabel: "1gb" });
    expect(parseStackOptions(["--size", "1.5GB"]).sizeBytes).toBe(1.5 * 1024 ** 3);
    expect(parseStackOptions(["--size", "500mb"]).sizeBytes).toBe(500 * 1024 ** 2);
    for (const [size, rows] of [["50000", 50_000], ["small", 20_000]] as const) {
      const o = parseStackOptions(["--size", size]);
      expect(o.sizeRows).toBe(rows);
      expect(o.sizeBytes).toBeUndefined();
    }
  });

  test("missing programs are named with how to install them", () => {
    expect(describeMissing([{ what: "nginx", install: "apt-get install nginx-light" }, { what: "redis-server", install: "apt-get install redis-server" }])).toBe(
      "the rehearsal needs programs that are not installed: nginx (apt-get install nginx-light); redis-server (apt-get install redis-server). On Debian, as root: bash scripts/setup-system.sh",
    );
  });
});
