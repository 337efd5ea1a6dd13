// Everything a rehearsal run holds while it runs: the source (database, Redis, app,
// old host or fake Heroku), the target, the front door and the load generator, plus
// the helpers both source kinds share (start an app, move the front door's weights).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { RehearsalOptions } from "../options";
import { AppProcess, startAppProcess } from "../app-process";
import { FrontDoor, Origin } from "../frontdoor";
import { LoadGenerator } from "../loadgen";
import { OldHost } from "../old-host";
import { FerryEnv } from "../ferry";
import { SourceData } from "../source-data";
import { StageContext } from "../stages";
import { LocalPostgres, LocalRedis, freePort } from "../servers";
import { FakeHerokuApi } from "../servers/heroku-api";
import { RunTimeline } from "../timeline";

export interface SourceSide {
  pg: LocalPostgres;
  /** The credential ferry uses: the superuser on a box you own, the app's owner role on Heroku. */
  ferryUrl: string;
  /** The app's own credential. */
  appUrl: string;
  redis: LocalRedis;
  redisUrl: string;
  data: SourceData;
  app?: AppProcess;
  oldHost?: OldHost;
  heroku?: { api: FakeHerokuApi; app: string; apiKey: string };
  /** TLS trust for a self-signed Heroku Redis, passed to children via NODE_EXTRA_CA_CERTS. */
  caFile?: string;
}

export interface TargetSide {
  port: number;
  /** Admin credential ferry uses. */
  ferryUrl: string;
  /** What the app uses on the target once it is the primary. */
  appUrl: string;
  pg?: LocalPostgres;
  standbyDir?: string;
  redis: LocalRedis;
  redisUrl: string;
  /** The new app while it still talks to the source's data (weighted split). */
  interimApp?: AppProcess;
  /** The new app on the target's data, after the cutover. */
  finalApp?: AppProcess;
}

export interface World {
  opts: RehearsalOptions;
  log: (line: string) => void;
  logsDir: string;
  runId: string;
  source: SourceSide;
  target?: TargetSide;
  frontDoor?: FrontDoor;
  load?: LoadGenerator;
  cutover: RunTimeline["cutover"];
  volumes: RunTimeline["volumes"];
  /** Background `ferry redis replicate --mode copy --follow`, when running. */
  redisFollower?: { stop(): Promise<void>; done: Promise<unknown> };
}

export const newRunId = (): string => randomBytes(4).toString("hex");
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function ferryEnv(w: World): FerryEnv {
  const env: FerryEnv = {
    FERRY_SOURCE_URL: w.source.ferryUrl,
    FERRY_SOURCE_REDIS_URL: w.source.redisUrl,
  };
  if (w.target) {
    env.FERRY_TARGET_URL = w.target.ferryUrl;
    env.FERRY_TARGET_REDIS_URL = w.target.redisUrl;
  }
  if (w.source.caFile) env.NODE_EXTRA_CA_CERTS = w.source.caFile;
  if (w.source.heroku) {
    env.HEROKU_API_KEY = w.source.heroku.apiKey;
    env.HEROKU_API_URL = w.source.heroku.api.url;
  }
  return env;
}

export async function startApp(w: World, name: string, databaseUrl: string, redisUrl: string, extra: { heroku?: SourceSide["heroku"] } = {}): Promise<AppProcess> {
  const port = await freePort();
  const heroku = extra.heroku ? { apiUrl: extra.heroku.api.url, apiKey: extra.heroku.apiKey, app: extra.heroku.app } : undefined;
  return startAppProcess(
    { port, name, databaseUrl, redisUrl, schema: w.source.data.schema, worker: true, heroku },
    join(w.logsDir, `app-${name}.log`),
  );
}

/** The front door's origins for "targetPercent of traffic on the new app". */
export function weights(sourcePort: number, targetPort: number, targetPercent: number): Origin[] {
  return [
    { name: "source", port: sourcePort, weight: 100 - targetPercent },
    { name: "target", port: targetPort, weight: targetPercent },
  ];
}

/** Move the front door to `percent` on the target, gate on ferry health, hold. */
export async function splitStep(w: World, s: StageContext, sourcePort: number, targetPort: number, percent: number): Promise<void> {
  await s.step(`front door: ${percent}% to the new app`, () => w.frontDoor!.setOrigins(weights(sourcePort, targetPort, percent)));
  await s.ferry(`health gate at ${percent}%`, ["health", "--url", `${w.frontDoor!.url}/health`, "--times", "3", "--interval", "0.2", "--deadline", "30"], {});
  await s.step(`hold ${w.opts.holdSeconds} s at ${percent}%`, () => sleep(w.opts.holdSeconds * 1000));
}

/** A number field of a ferry JSON result, wherever the data plane put it. */
export function numberField(json: unknown, ...names: string[]): number | undefined {
  if (!json || typeof json !== "object") return undefined;
  const obj = json as Record<string, unknown>;
  for (const n of names) if (typeof obj[n] === "number") return obj[n] as number;
  for (const v of Object.values(obj)) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const found = numberField(v, ...names);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
