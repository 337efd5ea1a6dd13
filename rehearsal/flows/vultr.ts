// --source vultr: one box with Postgres, Redis and nginx (story 001). The new
// Postgres follows the old one (a pg_basebackup standby, or a logical subscriber),
// the new Redis is a REPLICAOF replica, the new app first runs on the old data, the
// old nginx proxies to it, then Postgres is promoted, Redis detached, the app
// repointed, and the old box stops serving.
import { chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { StageContext, StageRunner } from "../stages";
import { asPostgres, freePort, isRoot, onExit, postgresBinDir, startPostgres, tempDir } from "../servers";
import { APP_DB } from "../source-data";
import { World, ferryEnv, sleep } from "./world";
import {
  openTarget, recordPgCutover, startFinalApp, startInterimApp, startTargetRedis, verifyBeforeOpening, weightedSplit,
} from "./shared-stages";

function postgresOwner(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  return {
    uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim()),
    gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim()),
  };
}

/** An empty directory for the standby, owned by the postgres user, stopped at exit whatever happens. */
function standbyDirectory(): string {
  const owner = postgresOwner();
  const dir = join(tempDir("standby", owner), "data");
  mkdirSync(dir, { mode: 0o700 });
  if (owner) chownSync(dir, owner.uid, owner.gid);
  onExit(() => {
    spawnSync(...asPostgres(join(postgresBinDir(), "pg_ctl"), ["-D", dir, "-m", "immediate", "stop"]), { stdio: "ignore" });
  });
  return dir;
}

export async function runVultrStages(w: World, stages: StageRunner): Promise<void> {
  const strategy = w.opts.pgStrategy;

  await stages.run("provision", async (s) => {
    const redis = await startTargetRedis(s);
    const port = await freePort();
    const sourcePassword = w.source.pg.password;
    if (strategy === "physical") {
      // The standby is a copy of the whole cluster: same roles, same passwords.
      const standbyDir = await s.step("prepare an empty standby directory", async () => standbyDirectory());
      const ferryUrl = `postgresql://postgres:${encodeURIComponent(sourcePassword)}@127.0.0.1:${port}/${APP_DB}`;
      const appUrl = new URL(w.source.appUrl);
      appUrl.port = String(port);
      w.target = { port, ferryUrl, appUrl: appUrl.toString(), standbyDir, redis, redisUrl: redis.url() };
    } else {
      const pg = await s.step("start the target PostgreSQL (RDS stand-in)", () => startPostgres({ password: randomBytes(12).toString("hex") }));
      await s.step("create the app database on the target", () => pg.query(`CREATE DATABASE ${APP_DB}`));
      // Logical replication does not carry roles: like RDS's master user, the target's
      // admin owns the copied tables and the app connects as it.
      w.target = { port: pg.port, ferryUrl: pg.url(APP_DB), appUrl: pg.url(APP_DB), pg, redis, redisUrl: redis.url() };
    }
    await startInterimApp(w, s, w.target!);
    return `${strategy === "physical" ? "standby" : "empty PostgreSQL"} on port ${w.target!.port}, Redis on ${redis.port}, new app on ${w.target!.interimApp!.config.port}`;
  });

  await stages.run("replicate", async (s) => {
    const env = ferryEnv(w);
    await s.ferry("ferry pg preflight", ["pg", "preflight", "--strategy", strategy], env);
    const replicateArgs = ["pg", "replicate", "--strategy", strategy];
    if (strategy === "physical") replicateArgs.push("--standby-dir", w.target!.standbyDir!);
    await s.ferry(`ferry pg replicate (${strategy})`, replicateArgs, env);
    await s.ferry("ferry redis preflight", ["redis", "preflight"], env);
    await s.ferry("ferry redis replicate (replicaof)", ["redis", "replicate", "--mode", "replicaof"], env);
    await s.ferry("ferry pg status", ["pg", "status"], env);
    await s.ferry("ferry redis status", ["redis", "status"], env);
  });

  await stages.run("proxy", async (s) => {
    const oldHost = w.source.oldHost!;
    await weightedSplitWithOldHost(w, s, oldHost.port);
  });

  await stages.run("cutover", async (s) => {
    const env = ferryEnv(w);
    await startFinalApp(w, s);
    const pg = await s.ferry(`ferry pg cutover (${strategy})`, ["pg", "cutover", "--strategy", strategy, "--max-lag-bytes", String(w.opts.maxLagBytes), "--timeout", "60"], env);
    recordPgCutover(w, pg.json);
    await s.ferry("ferry redis drain --sidekiq", ["redis", "drain", "--sidekiq", "--timeout", "30"], env);
    const redis = await s.ferry("ferry redis cutover (replicaof)", ["redis", "cutover", "--mode", "replicaof"], env);
    w.cutover.redisLag = redis.json ?? null;
    await verifyBeforeOpening(w, s);
    // The old host keeps proxying (Cloudflare may still send it traffic): now to the final app.
    await openTarget(w, s, async () => {
      await s.ferry("old host nginx proxies to the app on the target's data", ["proxy", "apply", "--origin", w.target!.finalApp!.url, "--listen", `127.0.0.1:${w.source.oldHost!.port}`, ...w.source.oldHost!.layoutArgs()], {});
    });
    return `writes fenced for ${w.cutover.writeUnavailableMs ?? "?"} ms by ferry's own measure`;
  });

  await stages.run("decommission", async (s) => {
    await s.step("stop the source app (Mastodon processes on the old box)", () => w.source.app!.stop());
    await s.ferry("health gate on the front door", ["health", "--url", `${w.frontDoor!.url}/health`, "--times", "3", "--interval", "0.2", "--deadline", "30"], {});
    await s.step(`hold ${w.opts.holdSeconds} s on the target`, () => sleep(w.opts.holdSeconds * 1000));
    return "source app stopped; the old box's PostgreSQL, Redis and nginx stay up until the checks pass";
  });
}

/**
 * Story 001's order: a weighted split at the edge between the old box and the new app,
 * then the old nginx proxies everything it still gets to the new app, then the edge
 * sends everything to the new app.
 */
async function weightedSplitWithOldHost(w: World, s: StageContext, oldHostPort: number): Promise<void> {
  await weightedSplit(w, s, oldHostPort, async () => {
    await s.ferry("old host nginx proxies to the new app", ["proxy", "apply", "--origin", w.target!.interimApp!.url, "--listen", `127.0.0.1:${oldHostPort}`, ...w.source.oldHost!.layoutArgs()], {});
  });
}
