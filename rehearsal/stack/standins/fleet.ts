// Processes of the rehearsal app standing in for what runs the user's app: Heroku dynos,
// ECS tasks, the box's systemd units. A fleet is a set of identical processes of one
// process type; changing its environment rolls it one process at a time (start the new
// one, then stop an old one), as a dyno restart or an ECS deployment with minimum healthy
// 100 % does. Each process is started and stopped as its platform does (app-process.ts),
// and one that exits on its own is replaced, as each platform does: Heroku restarts a
// crashed dyno (https://devcenter.heroku.com/articles/dynos#dyno-crash-restart-policy), an
// ECS service starts a task in place of a stopped one, systemd restarts a unit with
// Restart=always (Mastodon's units).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { AppProcess, Platform, startProcess } from "../../app-process";
import { freePort, tempDir } from "../../servers";

export type FleetLaunch =
  /** A process of a slug, through slug-run: its Procfile type, or a one-off command (SLUG_COMMAND). */
  | { kind: "slug"; file: string; slugRun: string; processType: string; command?: string; launcher?: string[] }
  /** A systemd unit's command in the box's app tree. */
  | { kind: "unit"; appDir: string; command: string }
  /** A container of an image that stands for this machine: its command under the task's launcher (ecs-image.ts). */
  | { kind: "image"; command: string; launcher: string[] };

export interface FleetSpec {
  /** e.g. `aws-web`, `heroku-masto-web-worker`, `box-mastodon-web`; each process is `<name>.<n>`. */
  name: string;
  platform: Platform;
  /** Serves HTTP (web, streaming): each process gets a port. The others (sidekiq) only work. */
  http: boolean;
  /** The config vars (a dyno's, a task's resolved secrets, a unit's environment file). */
  env: Record<string, string>;
  launch: FleetLaunch;
}

export interface FleetContext {
  logsDir: string;
  schema: string;
  /**
   * What every machine of the platforms has that the app relies on: the system trust
   * store, with the rehearsal's stand-in for the public CAs in it (SSL_CERT_FILE for Ruby's
   * OpenSSL, NODE_EXTRA_CA_CERTS for Node). Never a source's self-signed certificate.
   */
  machineEnv: Record<string, string>;
  log(line: string): void;
  /** Called when the set of serving processes changes (the router or load balancer re-renders). */
  changed(): Promise<void>;
}

/**
 * What the platform adds to a process's config vars: a dyno's name (DYNO), an ECS
 * container's metadata endpoint (Fargate sets ECS_CONTAINER_METADATA_URI_V4 in every
 * container), and the rehearsal's own instrumentation: which schema it seeded, and the
 * process's name for the X-Served-By header.
 */
export function platformEnv(platform: Platform, processType: string, n: number, name: string, schema: string): Record<string, string> {
  const common = { APP_NAME: name, APP_SCHEMA: schema };
  if (platform === "heroku") return { ...common, DYNO: `${processType}.${n}` };
  if (platform === "ecs") return { ...common, ECS_CONTAINER_METADATA_URI_V4: `http://169.254.170.2/v4/${randomBytes(16).toString("hex")}-${randomBytes(4).toString("hex")}` };
  return common;
}

/** How long a crashed process waits before it is replaced (Heroku's first restart is immediate; ECS's and systemd's take a few seconds). */
const RESTART_DELAY_MS = 2000;

export class Fleet {
  private processes: AppProcess[] = [];
  private counter = 0;
  /** Processes being stopped on purpose (scale down, roll): their exit is no crash. */
  private readonly stopping = new Set<AppProcess>();

  constructor(private spec: FleetSpec, private readonly ctx: FleetContext) {}

  get name(): string {
    return this.spec.name;
  }

  /** Ports of the processes serving HTTP now. */
  ports(): number[] {
    return this.spec.http ? this.processes.filter((p) => p.running() && p.port !== undefined).map((p) => p.port!) : [];
  }

  size(): number {
    return this.processes.length;
  }

  private async startOne(): Promise<AppProcess> {
    const { spec, ctx } = this;
    const n = ++this.counter;
    const name = `${spec.name}.${n}`;
    const launch = spec.launch;
    const processType = launch.kind === "slug" ? launch.processType : spec.name;
    const started = await startProcess({
      name,
      platform: spec.platform,
      launch: launch.kind === "slug"
        ? { kind: "slug", slugRun: launch.slugRun, slug: launch.file, processType: launch.processType, command: launch.command, launcher: launch.launcher, appDir: join(tempDir(`dyno-${name}`), "app") }
        : launch,
      env: { ...ctx.machineEnv, ...spec.env, ...platformEnv(spec.platform, processType, n, name, ctx.schema) },
      port: spec.http ? await freePort() : undefined,
      logFile: join(ctx.logsDir, `${spec.name}.log`),
    });
    void started.exited.then(({ code, signal }) => this.crashed(started, code, signal));
    return started;
  }

  /** A process exited on its own: replace it (unless it was being stopped, or is no longer one of the fleet's). */
  private async crashed(p: AppProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.stopping.has(p) || !this.processes.includes(p)) return;
    this.ctx.log(`      ${p.name} exited on its own (${signal ?? `exit ${code}`}): replaced, as its platform does`);
    await new Promise((r) => setTimeout(r, RESTART_DELAY_MS));
    if (!this.processes.includes(p)) return;
    try {
      const fresh = await this.startOne();
      if (this.processes.includes(p)) this.processes = this.processes.map((x) => (x === p ? fresh : x));
      else await this.stopOne(fresh);
      await this.ctx.changed();
    } catch (err) {
      this.ctx.log(`      ${p.name}: its replacement did not start: ${(err as Error).message}`);
    }
  }

  private async stopOne(p: AppProcess): Promise<void> {
    this.stopping.add(p);
    await p.stop();
  }

  /** Start one process of `spec` (it becomes the fleet's spec), owned by the caller: an ECS service keeps its own tasks. */
  launch(spec: FleetSpec = this.spec): Promise<AppProcess> {
    this.spec = spec;
    return this.startOne();
  }

  /** The spec the processes started from now on run with (a unit's env file, read at each start). */
  configure(spec: FleetSpec): void {
    this.spec = spec;
  }

  /** Grow or shrink to `count` processes. */
  async scale(count: number): Promise<void> {
    if (count === this.processes.length) return;
    this.ctx.log(`      ${this.spec.name}: ${this.processes.length} -> ${count} process(es)`);
    while (this.processes.length < count) this.processes.push(await this.startOne());
    if (this.processes.length > count) {
      const stopping = this.processes.splice(count);
      await this.ctx.changed();
      await Promise.all(stopping.map((p) => this.stopOne(p)));
    }
    await this.ctx.changed();
  }

  /** New environment or code: replace each process by one started with it, one at a time. */
  async roll(spec: FleetSpec): Promise<void> {
    this.spec = spec;
    const old = [...this.processes];
    this.ctx.log(`      ${spec.name}: rolling ${old.length} process(es) onto a new environment`);
    for (const p of old) {
      const fresh = await this.startOne();
      this.processes = [...this.processes.filter((x) => x !== p), fresh];
      await this.ctx.changed();
      await this.stopOne(p);
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
