// A rehearsal checks the Redis writes its workers logged; a second run into the same
// --out (the README's `npm run rehearse` twice, or staging after prod) must not count
// the first run's workers, whose Redis is gone.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../../rehearsal/servers";
import { freshLogsDir } from "../../../rehearsal/stack/rehearse";

describe("freshLogsDir", () => {
  it("empties the logs of a previous run into the same out folder", () => {
    const out = tempDir("rehearsal-out");
    mkdirSync(join(out, "logs"));
    writeFileSync(join(out, "logs", "ticks-box-mastodon-sidekiq.1.jsonl"), '{"member":"box-mastodon-sidekiq.1:1","at":1}\n');
    writeFileSync(join(out, "report.md"), "previous report");
    const logs = freshLogsDir(out);
    expect(logs).toBe(join(out, "logs"));
    expect(readdirSync(logs)).toEqual([]);
    // Only the logs: the previous report stays until this run writes its own.
    expect(existsSync(join(out, "report.md"))).toBe(true);
  });

  it("creates the folder when there is none", () => {
    const out = join(tempDir("rehearsal-out"), "new");
    expect(readdirSync(freshLogsDir(out))).toEqual([]);
  });
});
