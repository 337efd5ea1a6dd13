import { describe, expect, test } from "vitest";
import { join } from "node:path";
import { componentStage, FerryConfig, Stage } from "../../../config";
import { readStackConfig } from "../../../policy/stack-file";
import { stageConfigs, sourceAppOnMovedStoresCheck } from "../../../rehearsal/stack/rehearse";
import { storyStackFile, storyUps, Story } from "../../../rehearsal/stack/stories";
import { tempDir } from "../../../rehearsal/servers";

const ROOT = join(__dirname, "..", "..", "..");

function ups(story: Story, upTo: Stage = "decommission") {
  const config = readStackConfig(storyStackFile(ROOT, story, tempDir(`story-${story}`)));
  return storyUps(story, config, upTo, [50], (c, to) => stageConfigs(c, to, [50]));
}

const where = (c: FerryConfig) => (["postgres", "redis", "app"] as const).map((k) => componentStage(k, c.stages)).join(" ");

describe("the stores-first stories", () => {
  test("story 002 moves Redis alone, to Redis on EC2 published with TLS; Postgres and the app never leave", () => {
    const all = ups("002");
    expect(all[0].config.source.access).toEqual({ kind: "published" });
    expect(all[0].config.target.redis.kind).toBe("ec2");
    expect(all.map((u) => where(u.config))).toEqual(expect.arrayContaining(["provision cutover provision", "provision decommission provision"]));
    expect(all.every((u) => componentStage("postgres", u.config.stages) === "provision" && componentStage("app", u.config.stages) === "provision")).toBe(true);
  });

  test("story 000 cuts Postgres over with the app on Heroku, then Redis, then the app after its split, one up each", () => {
    const all = ups("000");
    expect(all[0].config.source.access?.postgresCaFile).toMatch(/^\/.*\.pem$/);
    const from = all.findIndex((u) => u.label === "cutover");
    expect(all.slice(from).map((u) => [u.label, where(u.config), u.config.stages.trafficPercent])).toEqual([
      ["cutover", "cutover replicate provision", 100],
      ["cutover: Redis", "cutover cutover provision", 100],
      ["the app: proxy 50%", "cutover cutover proxy", 50],
      ["the app: proxy 100%", "cutover cutover proxy", 100],
      ["cutover: the app", "cutover cutover cutover", 100],
      ["decommission", "decommission decommission decommission", 100],
    ]);
    // --up-to / --rollback-from stop at the first up of that stage: Postgres's cutover.
    expect(ups("000", "cutover").at(-1)!.label).toBe("cutover");
  });
});

describe("the check that the app left on Heroku serves from the moved stores", () => {
  const moved = { store: "redis" as const, configVar: "REDIS_URL", address: "10.9.0.7", cutoverEndedAt: 1_000, seenAt: 5_000 };
  const value = "rediss://:pw@10.9.0.7:6380/0";

  test("passes with the var on the target and writes acknowledged after the cutover", () => {
    expect(sourceAppOnMovedStoresCheck([{ ...moved, value }], [{ sentAt: 2_000 }]).ok).toBe(true);
  });

  test("fails, naming the store, when the var still names the source", () => {
    const check = sourceAppOnMovedStoresCheck([{ ...moved, value: "rediss://:pw@ec2-1-2-3-4.compute-1.amazonaws.com:6379" }], [{ sentAt: 2_000 }]);
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/^redis: the app's REDIS_URL names ec2-1-2-3-4/);
  });

  test("fails when no write was acknowledged between the cutover and the last look", () => {
    expect(sourceAppOnMovedStoresCheck([{ ...moved, value }], [{ sentAt: 500 }, { sentAt: 6_000 }]).ok).toBe(false);
  });

  test("fails when no store moved (nothing to vouch for)", () => {
    expect(sourceAppOnMovedStoresCheck([], [{ sentAt: 2_000 }]).ok).toBe(false);
  });
});
