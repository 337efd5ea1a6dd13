import { describe, expect, test } from "vitest";
import { parseOptions } from "../../rehearsal/options";
import { describeMissing } from "../../rehearsal/prerequisites";
import { parseSize, planSample } from "../../rehearsal/seed";

describe("rehearsal options", () => {
  test("defaults: vultr, physical, about a million rows", () => {
    const o = parseOptions([]);
    expect(o).toMatchObject({ source: "vultr", pgStrategy: "physical", redisMode: "replicaof", sizeRows: 1_000_000, splitSteps: [10, 50], verify: "window" });
    const plan = planSample(o.sizeRows);
    expect(plan.accounts + plan.accounts * plan.followsPerAccount + plan.statuses).toBe(1_000_000);
  });

  test("heroku is always dump + copy", () => {
    expect(parseOptions(["--source", "heroku", "--size", "small", "--feeds", "rebuild"])).toMatchObject({ pgStrategy: "dump", redisMode: "copy", feeds: "rebuild", sizeRows: 20_000 });
  });

  test("bad input fails naming the flag", () => {
    expect(() => parseOptions(["--source", "aws"])).toThrow(/--source must be vultr or heroku/);
    expect(() => parseOptions(["--pg-strategy", "dump"])).toThrow(/--pg-strategy must be physical or logical/);
    expect(() => parseOptions(["--split", "10,150"])).toThrow(/--split/);
    expect(() => parseSize("tiny")).toThrow(/--size must be "small" or a row count/);
    expect(() => parseOptions(["--source-dump", "a.dump", "--source-url", "postgresql://u@h/db"])).toThrow(/not both/);
  });

  test("a password on --source-url is refused (it would show in the process list)", () => {
    expect(() => parseOptions(["--source-url", "postgresql://u:hunter2@h/db"])).toThrow(/must not carry a password/);
    expect(parseOptions([], { FERRY_REHEARSAL_SOURCE_URL: "postgresql://u:pw@h/db" }).sourceUrl).toBe("postgresql://u:pw@h/db");
  });

  test("missing programs are named with how to install them", () => {
    expect(describeMissing([{ what: "nginx", install: "apt-get install nginx-light" }, { what: "redis-server", install: "apt-get install redis-server" }])).toBe(
      "the rehearsal needs programs that are not installed: nginx (apt-get install nginx-light); redis-server (apt-get install redis-server). On Debian, as root: bash scripts/setup-system.sh",
    );
  });
});
