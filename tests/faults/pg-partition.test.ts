// Cut the connection between the sides (the subscription dials the source through a
// forwarder process, killed -9 and started again) while the app writes. During the
// cut a cutover must refuse with a clear line and leave the source writable; after
// it, replication catches up on its own and verify is green: never a silent divergence.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { withClient } from "../../dataplane/postgres/connection";
import { logicalLag } from "../../dataplane/postgres/replication/logical";
import { missingWrites, startWriteLoad } from "../dataplane/postgres/fixtures";
import { canWrite, runFerry } from "../dataplane/postgres/helpers";
import { Link, link, viaPort } from "./link";
import { eventually } from "../support/eventually";
import { ReplicatingPair, caughtUp, cutOverAndVerify, replicatingPair } from "./pg-steps";

describe("connection between the sides cut mid-replication", () => {
  let pair: ReplicatingPair;
  let wire: Link;

  beforeAll(async () => {
    pair = await replicatingPair(async (source) => {
      wire = await link(source.port);
      return viaPort(source.url(), wire.port);
    });
  });

  afterAll(async () => {
    await wire?.cut();
    await Promise.all([pair?.source.stop("immediate"), pair?.target.stop("immediate")]);
  });

  test("cutover refuses during the cut; afterwards replication recovers and verify is green", async () => {
    const load = startWriteLoad(pair.appSource, { writers: 1 });
    await load.waitForMore(20);
    await wire.cut();
    await load.waitForMore(40); // the app keeps writing to the source while the link is down
    // The source notices the cut when its walsender's connection fails: wait for that.
    await eventually("the source to show the subscription's slot inactive and behind", async () => {
      const lag = await withClient(pair.source.url(), logicalLag);
      return lag?.active === false && lag.bytes > 0;
    }, { timeoutMs: 60_000 });

    const refused = await runFerry(["--json", "pg", "cutover", "--strategy", "logical", "--max-lag-bytes", "1024", "--timeout", "10"], pair.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ferry: gate not met after 10 s: the subscription is not streaming; the source was not touched\n$/);
    expect(await canWrite(pair.appSource)).toBe(true); // refused before the fence, or unfenced again

    await wire.restore();
    await load.waitForMore(20);
    await load.stop();
    expect(await caughtUp(pair.env)).toBe(true);
    expect(await missingWrites(pair.target.url(), load.acked)).toEqual([]);
    const { cutover, verify } = await cutOverAndVerify(pair.env);
    expect(cutover.code, cutover.stdout + cutover.stderr).toBe(0);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
