import { expect, test } from "vitest";
import { startRedis } from "../../../rehearsal/servers";
import { runCopy } from "../../../migrations/redis/copy";
import { client, differences, endpoint, seed, seedBig } from "./helpers";

test("smoke", async () => {
  const src = await startRedis({ settings: { "notify-keyspace-events": "KEA" } });
  const dst = await startRedis();
  await seed(client(src, 0), 50);
  await seed(client(src, 3), 20);
  await seedBig(client(src, 0), 300);
  const r = await runCopy({ source: endpoint(src, "--source"), target: endpoint(dst, "--target"), follow: false, batchSize: 100, limits: { maxElements: 100, maxBytes: 1e6 } });
  console.log(r);
  expect(await differences(src, dst, [0, 3])).toEqual([]);
});
