// Steps both source kinds take the same way: the target's Redis and app, the copy of
// the new app's traffic share, opening the front door on the final app after the
// verifies, and the end checks.
import { Client } from "pg";
import Redis from "ioredis";
import { randomBytes } from "node:crypto";
import { StageContext } from "../stages";
import { waitServedBy } from "../frontdoor";
import { startRedis } from "../servers";
import { World, TargetSide, ferryEnv, numberField, sleep, splitStep, startApp } from "./world";
import { lostWritesCheck, newInsertCheck, feedsCheck } from "../checks";
import { AckedWrite, CheckRecord } from "../timeline";

export async function startTargetRedis(s: StageContext) {
  return s.step("start the target Redis (ElastiCache stand-in, AUTH on)", () => startRedis({ password: randomBytes(12).toString("hex") }));
}

/** The new app, still on the source's data, gated by ferry health before it gets traffic. */
export async function startInterimApp(w: World, s: StageContext, t: TargetSide): Promise<void> {
  t.interimApp = await s.step("start the new app on the source's data", () => startApp(w, "target", w.source.appUrl, w.source.redisUrl));
  await s.ferry("health gate on the new app", ["health", "--url", `${t.interimApp.url}/health`, "--times", "3", "--interval", "0.2", "--deadline", "30"], {});
}

/** Weighted steps at the front door, then everything on the new app. */
export async function weightedSplit(w: World, s: StageContext, sourcePort: number, beforeFull?: () => Promise<void>): Promise<void> {
  const t = w.target!;
  for (const pct of w.opts.splitSteps) await splitStep(w, s, sourcePort, t.interimApp!.config.port, pct);
  if (beforeFull) await beforeFull();
  await s.step("front door: 100% to the new app", () => w.frontDoor!.setOrigins([{ name: "target", port: t.interimApp!.config.port, weight: 1 }]));
  await s.ferry("health gate at 100%", ["health", "--url", `${w.frontDoor!.url}/health`, "--times", "3", "--interval", "0.2", "--deadline", "30"], {});
  await s.step(`hold ${w.opts.holdSeconds} s at 100%`, () => sleep(w.opts.holdSeconds * 1000));
}

/** Record the cutover command's own figures for the report. */
export function recordPgCutover(w: World, json: unknown): void {
  w.cutover.writeUnavailableMs = numberField(json, "writeUnavailableMs");
  w.cutover.lagBytesAtFence = numberField(json, "lagBytesAtFence");
  w.cutover.raw = json;
}

/**
 * Both full verifies, side by side, while writes are still fenced: only now are the two
 * sides meant to be equal (once the target takes writes they differ by design). With
 * `--verify cutover` the cutover commands' own verifies stand in, and the window is shorter.
 */
export async function verifyBeforeOpening(w: World, s: StageContext): Promise<void> {
  if (w.opts.verify !== "window") return;
  const env = ferryEnv(w);
  const results = await Promise.allSettled([
    s.ferry("ferry pg verify (before opening the target)", ["pg", "verify"], env),
    s.ferry("ferry redis verify (before opening the target)", ["redis", "verify"], env),
  ]);
  const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
}

/**
 * The final app on the target's data takes all traffic (and `alsoRoute`, e.g. the old
 * host's proxy, is pointed at it); the interim app stops once nothing routes to it.
 */
export async function openTarget(w: World, s: StageContext, alsoRoute?: () => Promise<void>): Promise<void> {
  const t = w.target!;
  await s.step("front door: 100% to the app on the target's data", () => w.frontDoor!.setOrigins([{ name: "target-final", port: t.finalApp!.config.port, weight: 1 }]));
  if (alsoRoute) await alsoRoute();
  await s.step("wait until the front door serves only the new app", () => waitServedBy(w.frontDoor!.url, "target-final"));
  await s.step("stop the interim app", () => t.interimApp!.stop());
}

export async function startFinalApp(w: World, s: StageContext): Promise<void> {
  const t = w.target!;
  // Started before the fence (its pool connects lazily), so opening it costs a reload, not a boot.
  t.finalApp = await s.step("start the app on the target's data (no traffic yet)", () => startApp(w, "target-final", t.appUrl, t.redisUrl));
}

export async function endChecks(w: World, acked: AckedWrite[]): Promise<{ checks: CheckRecord[]; lost: AckedWrite[] }> {
  const t = w.target!;
  const checks: CheckRecord[] = [];
  const db = new Client({ connectionString: t.ferryUrl });
  await db.connect();
  const redis = new Redis(t.redisUrl, { maxRetriesPerRequest: 2 });
  try {
    const lost = await lostWritesCheck(db, w.source.data.schema, acked);
    checks.push(lost.check);
    checks.push(await feedsCheck(redis, acked));
    checks.push(await newInsertCheck(db, w.source.data.schema, acked));
    return { checks, lost: lost.lost };
  } finally {
    await db.end();
    redis.disconnect();
  }
}
