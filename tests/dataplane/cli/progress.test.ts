// Progress outside a terminal (a pipe, a log, a step inside `pulumi up`): a line every
// interval, so a long copy shows it moves; nothing for a step shorter than the interval.
import { describe, expect, it } from "vitest";
import { progressLines } from "../../../dataplane/cli/common";

function clocked(intervalMs: number) {
  let t = 0;
  const lines: string[] = [];
  const progress = progressLines((l) => lines.push(l), intervalMs, () => t);
  return { progress, lines, advance: (ms: number) => (t += ms) };
}

describe("progress lines", () => {
  it("prints one line per interval, whatever the number of updates, and a last line at stop", () => {
    const { progress, lines, advance } = clocked(10_000);
    progress.start(200, "initial sync (tables)");
    for (let i = 1; i <= 50; i++) {
      advance(1_000);
      progress.update(i * 2);
    }
    progress.stop();
    expect(lines).toEqual([
      "ferry: initial sync (tables): 20/200 (10%)\n",
      "ferry: initial sync (tables): 40/200 (20%)\n",
      "ferry: initial sync (tables): 60/200 (30%)\n",
      "ferry: initial sync (tables): 80/200 (40%)\n",
      "ferry: initial sync (tables): 100/200 (50%)\n",
      "ferry: initial sync (tables): 100/200 (50%)\n",
    ]);
  });

  it("follows a total that grows, and prints nothing for a step shorter than the interval", () => {
    const grows = clocked(5_000);
    grows.progress.start(0, "copy (keys)");
    grows.advance(5_000);
    grows.progress.update(10, 1_000);
    expect(grows.lines).toEqual(["ferry: copy (keys): 10/1000 (1%)\n"]);

    const short = clocked(5_000);
    short.progress.start(10, "copy (keys)");
    short.advance(4_999);
    short.progress.update(10);
    short.progress.stop();
    expect(short.lines).toEqual([]);
  });
});
