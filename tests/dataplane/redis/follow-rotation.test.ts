// `ferry redis replicate --strategy copy --follow` against a Heroku source whose credentials
// rotate while it follows (the add-on's REDIS_URL changes). The follower reads the URL once,
// from the add-on, when it starts. Redis keeps an authenticated connection when its password
// changes, so the follower keeps copying on the connections it has; it never reconnects
// (connection.ts: no retry), so it never tries the stale URL again behind the user's back.
// The first new connection it needs (a database it had not opened) is refused: it exits 1
// with one line naming --source, and the same command run again reads the add-on's current
// URL and resumes, the time nobody tailed repaired.
import Redis from "ioredis";
import { afterAll, describe, expect, test } from "vitest";
import { HEROKU_REDIS_REFUSES, LocalRedis, redisRotation, startHerokuApi, startRedis, type FakeHerokuApi } from "../../../rehearsal/servers";
import { eventually } from "../../support/eventually";
import { client, closeClients, differences, ferry, spawnFerry } from "./helpers";

const API_KEY = "heroku-key-follow-0123";
const APP = "famichiki";
const ADDON = "redis-curved-67890";

const servers: LocalRedis[] = [];
let api: FakeHerokuApi | undefined;
afterAll(async () => {
  closeClients();
  await api?.stop();
  for (const s of servers) await s.stop();
});

describe("a --follow copy through a rotation of the source's credentials", () => {
  test("keeps copying on its open connections; a new one is refused in one line; the rerun reads the add-on's new URL", async () => {
    const source = await startRedis({ password: "redis-pw-before-rotation", disableCommands: [...HEROKU_REDIS_REFUSES], settings: { "notify-keyspace-events": "KA" } });
    const target = await startRedis();
    servers.push(source, target);
    api = await startHerokuApi({
      apiKey: API_KEY,
      apps: [{ name: APP, addons: [{ name: ADDON, service: "heroku-redis", plan: "heroku-redis:premium-0", configVars: { REDIS_URL: source.url() } }] }],
    });
    const app = client(source);
    for (let i = 0; i < 30; i++) await app.set(`k:${i}`, `v${i}`);
    const env = {
      HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, FERRY_SOURCE_REDIS_HEROKU_APP: APP, FERRY_SOURCE_REDIS_HEROKU_ADDON: ADDON,
      FERRY_TARGET_REDIS_URL: target.url(),
    };
    const follower = spawnFerry(["--json", "redis", "replicate", "--strategy", "copy", "--follow"], env);
    await eventually("the follower to follow", async () => (await client(target).hget("ferry:state:meta", "phase")) === "following", { timeoutMs: 30_000 });

    const before = source.password!;
    await api.rotateCredentials(APP, ADDON, redisRotation(source));
    expect(source.password).not.toBe(before);
    // The app's own connection outlives the rotation too: it writes on, the follower copies.
    await app.set("k:0", "after the rotation");
    await eventually("the follower to copy a change made after the rotation", async () => (await client(target).get("k:0")) === "after the rotation");

    // A database the copy has not opened yet: its first connection uses the URL read at start.
    const db3 = new Redis(source.url(3));
    await db3.set("k:db3", "new database");
    db3.disconnect();
    const stopped = await follower.result;
    expect(stopped.code).toBe(1);
    expect(stopped.stderr.trimEnd().split("\n")).toEqual([`ferry: --source redis://127.0.0.1:${source.port}: wrong password or user (WRONGPASS)`]);
    expect(stopped.stdout + stopped.stderr).not.toContain(before);

    const again = await ferry(["--json", "redis", "replicate", "--strategy", "copy"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json).toMatchObject({ resumed: true, dbs: [0, 3] });
    expect(again.stdout + again.stderr).not.toContain(source.password!);
    expect(await differences(source, target, [0, 3])).toEqual([]);
  });
});
