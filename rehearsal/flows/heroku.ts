// --source heroku: Heroku Postgres gives no replication, so the database moves by
// dump and restore inside a maintenance window (story 000); Heroku Redis refuses
// SYNC/PSYNC and CONFIG and speaks only TLS, so it is copied client-side with a live
// tail until the cutover (feeds copied, or rebuilt by the app's own script). The new
// app takes traffic by weight first (story 003), then the dynos are scaled to zero.
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ChildProcess } from "node:child_process";
import { StageContext, StageRunner, StageFailed } from "../stages";
import { startPostgres, waitFor } from "../servers";
import { APP_DB } from "../source-data";
import { commandLine, failureReason, runFerry, spawnFerry, FerryResult } from "../ferry";
import { redact } from "../../migrations/cli/common";
import { World, ferryEnv, sleep } from "./world";
import {
  openTarget, recordPgCutover, startFinalApp, startInterimApp, startTargetRedis, verifyBeforeOpening, weightedSplit,
} from "./shared-stages";

const REBUILD_SCRIPT = join(__dirname, "..", "app", "rebuild-feeds.ts");

/** `ferry redis replicate --mode copy --follow` in the background until the cutover stops it. */
function startFollower(w: World, s: StageContext): { child: ChildProcess; done: Promise<FerryResult> } {
  const args = ["redis", "replicate", "--mode", "copy", "--follow"];
  const started = Date.now();
  const child = spawnFerry(args, ferryEnv(w));
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<FerryResult>((resolve) => {
    child.once("close", (code, signal) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(stdout.trim());
      } catch {
        json = undefined;
      }
      const exitCode = code ?? (signal ? 128 : 1);
      resolve({ command: commandLine(args), exitCode, json, stderr: redact(stderr.trim()), durationMs: Date.now() - started, unavailable: /unknown command|unknown option/i.test(stderr) });
    });
  });
  s.record.steps.push({ name: "ferry redis replicate (copy, following in the background)", startedAt: started, endedAt: started, ok: true, command: commandLine(args) });
  return { child, done };
}

/** Wait until the follower has finished the bulk pass and is tailing. */
async function waitForFollowing(w: World, s: StageContext, follower: { child: ChildProcess; done: Promise<FerryResult> }): Promise<void> {
  let exited: FerryResult | undefined;
  void follower.done.then((r) => (exited = r));
  await s.step("wait for the Redis copy to catch up and follow", () =>
    waitFor("the Redis copy to reach the following phase", async () => {
      if (exited) throw new StageFailed(failureReason(["redis", "replicate"], exited));
      const r = await runFerry(["redis", "status"], ferryEnv(w), 30_000);
      if (r.unavailable) throw new StageFailed(failureReason(["redis", "status"], r));
      return /"(following|caught-up)"/.test(JSON.stringify(r.json ?? {}));
    }, 10 * 60_000),
  );
}

export async function runHerokuStages(w: World, stages: StageRunner): Promise<void> {
  const heroku = w.source.heroku!;
  let follower: { child: ChildProcess; done: Promise<FerryResult> } | undefined;

  await stages.run("provision", async (s) => {
    const redis = await startTargetRedis(s);
    const pg = await s.step("start the target PostgreSQL (RDS stand-in)", () => startPostgres({ password: randomBytes(12).toString("hex") }));
    await s.step("create the app database on the target", () => pg.query(`CREATE DATABASE ${APP_DB}`));
    // pg_restore carries no roles: the target's admin (RDS's master user) owns the data and the app uses it.
    w.target = { port: pg.port, ferryUrl: pg.url(APP_DB), appUrl: pg.url(APP_DB), pg, redis, redisUrl: redis.url() };
    await startInterimApp(w, s, w.target);
    return `PostgreSQL on port ${pg.port}, Redis on ${redis.port}, new app on ${w.target.interimApp!.config.port}`;
  });

  await stages.run("replicate", async (s) => {
    const env = ferryEnv(w);
    await s.ferry("ferry pg preflight (dump)", ["pg", "preflight", "--strategy", "dump"], env);
    await s.ferry("ferry pg replicate (timed trial dump and restore)", ["pg", "replicate", "--strategy", "dump"], env);
    await s.ferry("ferry redis preflight", ["redis", "preflight"], env);
    follower = startFollower(w, s);
    const f = follower;
    w.redisFollower = {
      done: f.done,
      stop: async () => {
        if (f.child.exitCode === null && f.child.signalCode === null) f.child.kill("SIGTERM");
        await f.done;
      },
    };
    await waitForFollowing(w, s, follower);
  });

  await stages.run("proxy", (s) => weightedSplit(w, s, w.source.app!.config.port));

  await stages.run("cutover", async (s) => {
    const env = ferryEnv(w);
    await startFinalApp(w, s);
    await s.ferry("ferry heroku maintenance on", ["heroku", "maintenance", "on", "--app", heroku.app], env);
    const pg = await s.ferry("ferry pg cutover (dump and restore)", ["pg", "cutover", "--strategy", "dump", "--timeout", "600"], env, { timeoutMs: 60 * 60_000 });
    recordPgCutover(w, pg.json);
    await s.ferry("ferry redis drain --sidekiq", ["redis", "drain", "--sidekiq", "--timeout", "30"], env);
    const redis = await s.ferry("ferry redis cutover (copy)", ["redis", "cutover", "--mode", "copy"], env);
    w.cutover.redisLag = redis.json ?? null;
    if (follower) {
      await s.step("the background Redis copy finishes", async () => {
        const timer = setTimeout(() => follower!.child.kill("SIGTERM"), 60_000);
        const r = await follower!.done;
        clearTimeout(timer);
        if (r.exitCode !== 0) throw new StageFailed(failureReason(["redis", "replicate"], r));
        return r;
      }, (r) => (r.json ? JSON.parse(redact(JSON.stringify(r.json))) : undefined));
    }
    // Verify the copy as copied; a rebuild then replaces the feeds by design (they differ from the source's after it).
    await verifyBeforeOpening(w, s);
    if (w.opts.feeds === "rebuild") {
      await s.ferry("ferry redis rebuild (the app's feed rebuild script)", ["redis", "rebuild", "--command", `${process.execPath} --require tsx/cjs ${REBUILD_SCRIPT}`], { ...env, APP_SCHEMA: w.source.data.schema });
    }
    await openTarget(w, s);
    return `writes fenced for ${w.cutover.writeUnavailableMs ?? "?"} ms by ferry's own measure`;
  });

  await stages.run("decommission", async (s) => {
    await s.ferry("ferry heroku scale web=0 worker=0", ["heroku", "scale", "--app", heroku.app, "web=0", "worker=0"], ferryEnv(w));
    await s.step("stop the source app (the dynos)", () => w.source.app!.stop());
    await s.ferry("health gate on the front door", ["health", "--url", `${w.frontDoor!.url}/health`, "--times", "3", "--interval", "0.2", "--deadline", "30"], {});
    await s.step(`hold ${w.opts.holdSeconds} s on the target`, () => sleep(w.opts.holdSeconds * 1000));
    return "dynos scaled to zero; Heroku Postgres and Redis stay until the checks pass";
  });
}
