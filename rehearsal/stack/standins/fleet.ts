// Processes of the rehearsal app standing in for what runs the user's app: Heroku
// dynos, the box's systemd units, the instances of an autoscaling group. A fleet is a
// set of identical processes of one process type; changing its environment rolls it
// one process at a time (start the new one, then stop an old one), as an instance
// refresh with a minimum healthy share or a dyno restart does.
import { join } from "node:path";
import { AppProcess, startAppProcess, startSlugProcess } from "../../app-process";
import { freePort, tempDir } from "../../servers";

export interface FleetSpec {
  /** e.g. `aws-web`, `heroku-masto-web-worker`; each process is `<name>.<n>`. */
  name: string;
  /** Serves HTTP (web, streaming) or only works the queue (worker, sidekiq). */
  http: boolean;
  env: Record<string, string>;
  /** Heroku dynos answer 503 while their app is in maintenance, as Heroku's router does. */
  heroku?: { apiUrl: string; apiKey: string; app: string };
  /**
   * Start each process from a Heroku slug through bin/slug-run (a dyno, an ECS task of
   * the slug) instead of from the repository's sources; `env` is then the process's
   * whole environment of config vars.
   */
  slug?: { file: string; slugRun: string; processType: string; launcher?: string[] };
}

export interface FleetContext {
  logsDir: string;
  schema: string;
  log(line: string): void;
  /** Called when the set of serving processes changes (the router or load balancer re-renders). */
  changed(): Promise<void>;
}

function required(env: Record<string, string>, key: string, fleet: string): string {
  const v = env[key];
  if (!v) throw new Error(`${fleet}: ${key} is not in the process's environment`);
  return v;
}

export class Fleet {
  private processes: AppProcess[] = [];
  private counter = 0;

  constructor(private spec: FleetSpec, private readonly ctx: FleetContext) {}

  get name(): string {
    return this.spec.name;
  }

  /** Ports of the processes serving HTTP now. */
  ports(): number[] {
    return this.spec.http ? this.processes.filter((p) => p.running()).map((p) => p.config.port) : [];
  }

  size(): number {
    return this.processes.length;
  }

  private async startOne(): Promise<AppProcess> {
    const n = ++this.counter;
    const name = `${this.spec.name}.${n}`;
    const env = this.spec.env;
    if (this.spec.slug) return this.startFromSlug(this.spec.slug, name, n);
    return startAppProcess({
      port: await freePort(),
      name,
      databaseUrl: required(env, "DATABASE_URL", this.spec.name),
      redisUrl: required(env, "REDIS_URL", this.spec.name),
      schema: this.ctx.schema,
      worker: !this.spec.http,
      tickFile: this.spec.http ? undefined : join(this.ctx.logsDir, `ticks-${name}.jsonl`),
      heroku: this.spec.heroku,
    }, join(this.ctx.logsDir, `${this.spec.name}.log`));
  }

  private async startFromSlug(slug: NonNullable<FleetSpec["slug"]>, name: string, n: number): Promise<AppProcess> {
    const { spec, ctx } = this;
    // What the platform adds to the config vars: the dyno's name, and the rehearsal's own
    // instrumentation (the schema it seeded, where a worker records its Redis writes).
    const platform: Record<string, string> = {
      DYNO: `${slug.processType}.${n}`,
      APP_SCHEMA: ctx.schema,
      ...(spec.http ? {} : { APP_TICK_FILE: join(ctx.logsDir, `ticks-${name}.jsonl`) }),
      ...(spec.heroku ? { HEROKU_API_URL: spec.heroku.apiUrl, HEROKU_API_KEY: spec.heroku.apiKey, HEROKU_APP: spec.heroku.app } : {}),
    };
    return startSlugProcess({
      slugRun: slug.slugRun, slug: slug.file, processType: slug.processType, launcher: slug.launcher, appDir: join(tempDir(`dyno-${name}`), "app"),
      port: await freePort(), name, env: { ...spec.env, ...platform }, http: spec.http,
    }, join(ctx.logsDir, `${spec.name}.log`));
  }

  /** Start one process of `spec` (it becomes the fleet's spec), owned by the caller: an ECS service keeps its own tasks. */
  launch(spec: FleetSpec = this.spec): Promise<AppProcess> {
    this.spec = spec;
    return this.startOne();
  }

  /** Grow or shrink to `count` processes. */
  async scale(count: number): Promise<void> {
    if (count === this.processes.length) return;
    this.ctx.log(`      ${this.spec.name}: ${this.processes.length} -> ${count} process(es)`);
    while (this.processes.length < count) this.processes.push(await this.startOne());
    if (this.processes.length > count) {
      const stopping = this.processes.splice(count);
      await this.ctx.changed();
      await Promise.all(stopping.map((p) => p.stop()));
    }
    await this.ctx.changed();
  }

  /** New environment: replace each process by one started with it, one at a time. */
  async roll(spec: FleetSpec): Promise<void> {
    this.spec = spec;
    const old = [...this.processes];
    this.ctx.log(`      ${spec.name}: rolling ${old.length} process(es) onto a new environment`);
    for (const p of old) {
      const fresh = await this.startOne();
      this.processes = [...this.processes.filter((x) => x !== p), fresh];
      await this.ctx.changed();
      await p.stop();
    }
  }

  async stop(): Promise<void> {
    await this.scale(0);
  }
}

/** systemd EnvironmentFile / env-file text (KEY="value" lines, as components/target writes it) to a map. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)="(.*)"$/.exec(line.trim());
    if (!m) continue;
    env[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  }
  return env;
}
