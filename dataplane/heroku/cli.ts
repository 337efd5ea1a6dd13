// `ferry heroku ...`: maintenance, config vars, scaling, add-ons and domains through
// the Platform API client. The key comes from HEROKU_API_KEY only (never a flag), the
// base from HEROKU_API_URL; config values come from argv or, for secrets, from named
// environment variables (--from-env), and are never printed. Every change prints how
// to undo it.
import { Command, InvalidArgumentError } from "commander";
import { accessSync, chmodSync, constants, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { action, emit, FerryError, GlobalOptions } from "../cli/common";
import { DEFAULT_HEROKU_API_URL, HerokuApiError, HerokuClient } from "./client";
import { parseAssignments, parseFromEnv, parseScale, parseUnset } from "./args";
import { downloadSlug, SlugDownloadError } from "./slug";
import { secretString, SecretWriteError, writeSecretIfChanged } from "./copy-config";
import { ConfigVars, ConfigVarsPatch, Formation, Release, Slug } from "./types";
import { repoint, repointToAddon, restore, RepointOutcome } from "./repoint";
import { SourceUrlError } from "./source-url";
import { parseSchedulerOff, schedulerOff, schedulerOn } from "./scheduler";

/** Statuses meaning "this request, as given, can never succeed": bad input, exit 2. */
const INPUT_STATUSES = new Set([400, 401, 403, 404, 416, 422]);

function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

/** The client from HEROKU_API_KEY / HEROKU_API_URL; retries are reported on stderr for people. */
export function clientFromEnv(opts: GlobalOptions & { maxAttempts?: number }, env: NodeJS.ProcessEnv = process.env): HerokuClient {
  const apiKey = env.HEROKU_API_KEY;
  if (!apiKey) throw new FerryError("missing HEROKU_API_KEY: set it in the environment (ferry never takes the key as a flag)", 2);
  const baseUrl = env.HEROKU_API_URL || DEFAULT_HEROKU_API_URL;
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error();
  } catch {
    throw new FerryError(`HEROKU_API_URL is not an http(s) URL: ${JSON.stringify(baseUrl)}`, 2);
  }
  const client = new HerokuClient({ apiKey, baseUrl, maxAttempts: opts.maxAttempts });
  if (!opts.json) {
    client.onEvent = (e) => {
      if (e.kind === "retry") {
        process.stderr.write(`ferry: heroku ${e.reason} on ${e.method} ${e.path}; retrying in ${(e.waitMs / 1000).toFixed(1)} s (attempt ${e.attempt + 1})\n`);
      }
    };
  }
  return client;
}

/** Heroku's errors become one line with the right exit code. */
function heroku<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return action(async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof HerokuApiError) throw new FerryError(err.message, INPUT_STATUSES.has(err.status) ? 2 : 1);
      if (err instanceof SlugDownloadError || err instanceof SecretWriteError) throw new FerryError(err.message, 1);
      throw err;
    }
  });
}

function appName(value: string): string {
  if (!/^[a-z0-9][a-z0-9-]{1,99}$/i.test(value) && !/^[0-9a-f-]{36}$/i.test(value)) {
    throw new FerryError(`--app must be a Heroku app name or id: ${JSON.stringify(value)}`, 2);
  }
  return value;
}

function registerMaintenance(herokuCmd: Command): void {
  herokuCmd
    .command("maintenance")
    .description("turn maintenance mode on or off (the app answers 503 with Heroku's maintenance page)")
    .argument("<on|off>", "on or off")
    .requiredOption("--app <app>", "Heroku app name")
    .action(
      heroku(async (state: string, flags: { app: string }, command: Command) => {
        if (state !== "on" && state !== "off") throw new FerryError(`maintenance takes "on" or "off", got ${JSON.stringify(state)}`, 2);
        const app = appName(flags.app);
        const client = clientFromEnv(globals(command));
        const before = await client.getApp(app);
        const after = await client.setMaintenance(app, state === "on");
        const result = { app: after.name, maintenance: after.maintenance, previous: before.maintenance };
        emit(globals(command), result, (r) => `${r.app}: maintenance ${r.maintenance ? "on" : "off"} (was ${r.previous ? "on" : "off"}; undo: ferry heroku maintenance ${r.previous ? "on" : "off"} --app ${r.app})`);
      }),
    );
}

interface ConfigChange {
  app: string;
  /** Keys created, changed, deleted or already as asked: names only, never values. */
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
  /** Where the previous values were saved (for `config restore`), if asked. */
  savedPrevious?: string;
}

/** Compare before/after per key so the output says what really changed (names only). */
function describeChange(app: string, before: ConfigVars, patch: ConfigVarsPatch): ConfigChange {
  const change: ConfigChange = { app, added: [], changed: [], removed: [], unchanged: [] };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) (k in before ? change.removed : change.unchanged).push(k);
    else if (!(k in before)) change.added.push(k);
    else (before[k] === v ? change.unchanged : change.changed).push(k);
  }
  return change;
}

/** The values `patch` overwrites, as a patch that puts them back (null: the key did not exist). */
function previousValues(before: ConfigVars, patch: ConfigVarsPatch): ConfigVarsPatch {
  return Object.fromEntries(Object.keys(patch).map((k) => [k, k in before ? before[k] : null]));
}

/** Saved values are secrets: the file is created owner-only. */
function savePrevious(file: string, app: string, previous: ConfigVarsPatch): void {
  writeFileSync(file, JSON.stringify({ app, previous }, null, 2) + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
}

async function applyConfig(command: Command, app: string, patch: ConfigVarsPatch, saveTo?: string): Promise<void> {
  const client = clientFromEnv(globals(command));
  const before = await client.getConfigVars(app);
  if (saveTo) savePrevious(saveTo, app, previousValues(before, patch));
  await client.updateConfigVars(app, patch);
  const change = { ...describeChange(app, before, patch), ...(saveTo ? { savedPrevious: saveTo } : {}) };
  emit(globals(command), change, humanConfigChange);
}

function humanConfigChange(c: ConfigChange): string {
  const parts = [
    c.added.length ? `added ${c.added.join(", ")}` : "",
    c.changed.length ? `changed ${c.changed.join(", ")}` : "",
    c.removed.length ? `removed ${c.removed.join(", ")}` : "",
    c.unchanged.length ? `already as asked ${c.unchanged.join(", ")}` : "",
  ].filter(Boolean);
  const undo = c.savedPrevious ? `; undo: ferry heroku config restore --app ${c.app} --file ${c.savedPrevious}` : "";
  return `${c.app}: config ${parts.join("; ")}${undo}`;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function registerConfig(herokuCmd: Command): void {
  const config = herokuCmd.command("config").description("change the app's config vars (values are never printed)");

  config
    .command("set")
    .description("set config vars; put secrets in environment variables and pass --from-env KEY=ENV_VAR")
    .argument("[KEY=VALUE...]", "values given directly (visible in the process list: not for secrets)")
    .requiredOption("--app <app>", "Heroku app name")
    .option("--from-env <KEY=ENV_VAR>", "set KEY to the value of environment variable ENV_VAR (repeatable)", collect, [])
    .option("--save-previous <file>", "save the values being replaced (mode 0600) for `config restore`")
    .action(
      heroku(async (words: string[], flags: { app: string; fromEnv: string[]; savePrevious?: string }, command: Command) => {
        const app = appName(flags.app);
        const direct = parseAssignments(words);
        const fromEnv = parseFromEnv(flags.fromEnv);
        const both = Object.keys(fromEnv).filter((k) => k in direct.patch);
        if (both.length) throw new FerryError(`config set: ${both.join(", ")} given both as KEY=VALUE and with --from-env`, 2);
        const patch = { ...direct.patch, ...fromEnv };
        if (Object.keys(patch).length === 0) throw new FerryError("config set: give KEY=VALUE words or --from-env KEY=ENV_VAR", 2);
        if (direct.secretLooking.length) {
          process.stderr.write(`ferry: warning: ${direct.secretLooking.join(", ")} given in argv where other users can read it; use --from-env KEY=ENV_VAR for secrets\n`);
        }
        await applyConfig(command, app, patch, flags.savePrevious);
      }),
    );

  config
    .command("unset")
    .description("delete config vars (PATCH with null)")
    .argument("<KEY...>", "names to delete")
    .requiredOption("--app <app>", "Heroku app name")
    .option("--save-previous <file>", "save the values being deleted (mode 0600) for `config restore`")
    .action(
      heroku(async (words: string[], flags: { app: string; savePrevious?: string }, command: Command) => {
        await applyConfig(command, appName(flags.app), parseUnset(words), flags.savePrevious);
      }),
    );

  config
    .command("copy")
    .description("copy every config var into an AWS Secrets Manager secret (JSON keys) through the AWS CLI's stdin; prints names only")
    .requiredOption("--app <app>", "Heroku app name")
    .requiredOption("--secret-id <arn>", "the Secrets Manager secret (ARN or name) that receives a new version when a value changed")
    .option("--region <region>", "AWS region of the secret")
    .option("--exclude <KEY,...>", "vars not to copy (ferry sets them itself, e.g. DATABASE_URL,REDIS_URL)", "")
    .action(
      heroku(async (flags: { app: string; secretId: string; region?: string; exclude: string }, command: Command) => {
        const app = appName(flags.app);
        if (!/^[A-Za-z0-9/_+=.@:-]{1,2048}$/.test(flags.secretId)) throw new FerryError(`--secret-id must be a secret ARN or name: ${JSON.stringify(flags.secretId)}`, 2);
        if (flags.region !== undefined && !/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(flags.region)) throw new FerryError(`--region must be an AWS region: ${JSON.stringify(flags.region)}`, 2);
        const exclude = flags.exclude ? flags.exclude.split(",").map((k) => k.trim()).filter(Boolean) : [];
        const vars = await clientFromEnv(globals(command)).getConfigVars(app);
        const { json, names } = secretString(vars, exclude, app);
        const { versionId, written } = await writeSecretIfChanged(flags.secretId, json, flags.region);
        // The same output whether or not a version was written: a rerun that changed nothing prints what it printed.
        const result = { app, secretId: flags.secretId, versionId, names, excluded: exclude.filter((k) => k in vars) };
        emit(globals(command), result, (r) => `${r.app}: ${r.names.length} config vars ${written ? "copied to" : "unchanged in"} ${r.secretId} (version ${r.versionId}): ${r.names.join(", ")}`);
      }),
    );

  config
    .command("restore")
    .description("put back the values a `config set|unset --save-previous FILE` replaced")
    .requiredOption("--app <app>", "Heroku app name")
    .requiredOption("--file <file>", "the file written by --save-previous")
    .action(
      heroku(async (flags: { app: string; file: string }, command: Command) => {
        const app = appName(flags.app);
        const saved = readSaved(flags.file);
        if (saved.app !== app) throw new FerryError(`--file ${flags.file} was saved for app ${saved.app}, not ${app}`, 2);
        await applyConfig(command, app, saved.previous);
      }),
    );
}

function humanRepoint(o: RepointOutcome): string {
  switch (o.action) {
    case "set": return `${o.app}: ${o.configVar} set (no add-on owned it)`;
    case "moved": return `${o.app}: ${o.configVar} set; add-on ${o.addon} kept attached as ${o.parkedAs} (undo: ferry heroku repoint --app ${o.app} --var ${o.configVar} --restore)`;
    case "restored": return `${o.app}: add-on ${o.addon} attached as ${o.attachedAs} again, which owns ${o.configVar}`;
    case "nothing-to-restore": return `${o.app}: nothing to restore for ${o.configVar}`;
  }
}

/** The add-on's URL not found: bad input (a wrong add-on or app), one line. */
function sourceUrlFailure(err: unknown): never {
  if (err instanceof SourceUrlError) throw new FerryError(err.message, 2, "source");
  throw err;
}

function registerRepoint(herokuCmd: Command): void {
  herokuCmd
    .command("repoint")
    .description("point a config var an add-on owns (DATABASE_URL) at a new value: the add-on is re-attached under FERRY_SOURCE_<NAME> first, never destroyed")
    .requiredOption("--app <app>", "Heroku app name")
    .requiredOption("--var <KEY>", "the config var, e.g. DATABASE_URL")
    .option("--from-env <ENV_VAR>", "the environment variable holding the new value (never argv)")
    .option("--restore", "the way back: unset the var and attach the add-on under its own name again")
    .option("--to-addon <addon>", "the way back without a copy of the source URL: the add-on's current value again (its attachment restored, or the URL its own attachments hold now)")
    .action(
      heroku(async (flags: { app: string; var: string; fromEnv?: string; restore?: boolean; toAddon?: string }, command: Command) => {
        const app = appName(flags.app);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(flags.var)) throw new FerryError(`--var: ${JSON.stringify(flags.var)} is not a config var name (letters, digits, _)`, 2);
        const key = flags.var;
        if ([!!flags.restore, flags.fromEnv !== undefined, flags.toAddon !== undefined].filter(Boolean).length !== 1) {
          throw new FerryError("repoint: give exactly one of --from-env ENV_VAR, --to-addon ADDON or --restore", 2);
        }
        const client = clientFromEnv(globals(command));
        const outcome = flags.restore
          ? await restore(client, app, key)
          : flags.toAddon !== undefined
            ? await repointToAddon(client, app, key, flags.toAddon).catch(sourceUrlFailure)
            : await repoint(client, app, key, parseFromEnv([`${key}=${flags.fromEnv}`])[key] as string);
        emit(globals(command), outcome, humanRepoint);
      }),
    );
}

function readSaved(file: string): { app: string; previous: ConfigVarsPatch } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new FerryError(`--file ${file} cannot be read as saved config: ${(err as Error).message.split("\n")[0]}`, 2);
  }
  const p = parsed as { app?: unknown; previous?: unknown };
  const valuesOk = p.previous && typeof p.previous === "object" && Object.values(p.previous).every((v) => v === null || typeof v === "string");
  if (typeof p.app !== "string" || !valuesOk) throw new FerryError(`--file ${file} is not a file written by --save-previous`, 2);
  return { app: p.app, previous: p.previous as ConfigVarsPatch };
}

function formationWord(f: Pick<Formation, "type" | "quantity" | "size">): string {
  return `${f.type}=${f.quantity}:${f.size}`;
}

function registerScale(herokuCmd: Command): void {
  herokuCmd
    .command("scale")
    .description("set dyno counts and sizes, e.g. web=2:standard-1X worker=0")
    .argument("<TYPE=N[:SIZE]...>", "process type, quantity and optional size")
    .requiredOption("--app <app>", "Heroku app name")
    .action(
      heroku(async (words: string[], flags: { app: string }, command: Command) => {
        const app = appName(flags.app);
        const updates = parseScale(words);
        const client = clientFromEnv(globals(command));
        const before = await client.listFormation(app);
        const after = await client.updateFormation(app, updates);
        const touched = new Set(updates.map((u) => u.type));
        const previous = before.filter((f) => touched.has(f.type)).map((f) => ({ type: f.type, quantity: f.quantity, size: f.size }));
        const result = { app, formation: after.map((f) => ({ type: f.type, quantity: f.quantity, size: f.size })), previous };
        emit(globals(command), result, (r) =>
          `${r.app}: ${r.formation.map(formationWord).join(" ")} (undo: ferry heroku scale --app ${r.app} ${r.previous.map(formationWord).join(" ")})`,
        );
      }),
    );
}

function registerListings(herokuCmd: Command): void {
  herokuCmd
    .command("addons")
    .description("list the app's add-ons (every page)")
    .requiredOption("--app <app>", "Heroku app name")
    .action(heroku(async (flags: { app: string }, command: Command) => listAddons(appName(flags.app), globals(command))));

  // Its own verb, never an argument of the listing: a slip of the keyboard on `addons`
  // must not be one word away from deleting a database.
  herokuCmd
    .command("destroy-addon")
    .description("release one add-on (decommission only): Heroku deletes its data, so --confirm must repeat the app name")
    .requiredOption("--app <app>", "Heroku app name")
    .requiredOption("--addon <name>", "the add-on's name or id, as `ferry heroku addons` lists it")
    .requiredOption("--confirm <app>", "the app name again, as `heroku addons:destroy` asks")
    .action(
      heroku(async (flags: { app: string; addon: string; confirm: string }, command: Command) => {
        const app = appName(flags.app);
        if (flags.confirm !== app) throw new FerryError(`--confirm must repeat the app name ${JSON.stringify(app)} to destroy an add-on`, 2);
        const gone = await clientFromEnv(globals(command)).destroyAddon(app, flags.addon);
        emit(globals(command), { app, addon: gone.name, state: gone.state }, (r) => `${r.app}: add-on ${r.addon} released (${r.state})`);
      }),
    );

  herokuCmd
    .command("domains")
    .description("list the app's domains and their DNS targets (every page)")
    .requiredOption("--app <app>", "Heroku app name")
    .action(
      heroku(async (flags: { app: string }, command: Command) => {
        const app = appName(flags.app);
        const domains = (await clientFromEnv(globals(command)).listDomains(app)).map((d) => ({
          hostname: d.hostname,
          kind: d.kind,
          cname: d.cname,
          status: d.status,
        }));
        emit(globals(command), { app, domains }, (r) => r.domains.map((d) => `${d.hostname}\t${d.kind}\t${d.cname ?? "-"}\t${d.status}`).join("\n"));
      }),
    );
}

async function listAddons(app: string, opts: GlobalOptions): Promise<void> {
  const addons = (await clientFromEnv(opts).listAddons(app)).map((a) => ({
    name: a.name,
    service: a.addon_service.name,
    plan: a.plan.name,
    state: a.state,
    configVars: a.config_vars,
  }));
  emit(opts, { app, addons }, (r) =>
    r.addons.map((a) => `${a.name}\t${a.plan}\t${a.state}\t${a.configVars.join(",")}`).join("\n") || `${r.app}: no add-ons`,
  );
}

function registerScheduler(herokuCmd: Command): void {
  herokuCmd
    .command("scheduler")
    .description("switch Heroku Scheduler off (its add-on destroyed: maintenance mode does not stop its one-off dynos) or back on (the add-on provisioned again; its jobs must be entered again)")
    .argument("<off|on>", "off or on")
    .requiredOption("--app <app>", "Heroku app name")
    .option("--from-env <NAME>", "with on: the environment variable holding what `--json heroku scheduler off` printed (the Command provider's PULUMI_COMMAND_STDOUT)")
    .option("--job <text>", "with on: a job to enter again in the Scheduler dashboard, as the stack declares it (repeatable)", collect, [])
    .action(
      heroku(async (state: string, flags: { app: string; fromEnv?: string; job: string[] }, command: Command) => {
        if (state !== "off" && state !== "on") throw new FerryError(`scheduler takes "off" or "on", got ${JSON.stringify(state)}`, 2);
        const app = appName(flags.app);
        const client = clientFromEnv(globals(command));
        if (state === "off") {
          const off = await schedulerOff(client, app);
          emit(globals(command), off, (r) => (r.removed.length
            ? `${r.app}: Heroku Scheduler off (add-on ${r.removed.map((a) => `${a.name}, ${a.plan}`).join("; ")} destroyed; its jobs no longer run; undo: ferry heroku scheduler on --app ${r.app}, then enter the jobs again)`
            : `${r.app}: no Heroku Scheduler add-on: nothing to switch off`));
          return;
        }
        if (!flags.fromEnv || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(flags.fromEnv)) throw new FerryError("scheduler on: give --from-env NAME, the variable holding what `--json heroku scheduler off` printed", 2);
        const text = process.env[flags.fromEnv];
        if (text === undefined) throw new FerryError(`scheduler on: ${flags.fromEnv} is not set`, 2);
        let off;
        try {
          off = parseSchedulerOff(text, app);
        } catch (e) {
          throw new FerryError(`scheduler on: ${flags.fromEnv}: ${(e as Error).message}`, 2);
        }
        const on = await schedulerOn(client, app, off, flags.job);
        emit(globals(command), on, (r) => [
          r.created.length ? `${r.app}: Heroku Scheduler on again (add-on ${r.created.map((a) => `${a.name}, ${a.plan}`).join("; ")}); enter its jobs again in its dashboard:` : `${r.app}: Heroku Scheduler: nothing to provision`,
          ...r.jobs.map((j) => `  ${j}`),
        ].join("\n"));
        if (on.jobs.length) process.stderr.write(`ferry: ${app}: Heroku Scheduler's jobs are not restored by its API; enter these again: ${on.jobs.join(" | ")}\n`);
      }),
    );
}

/** What `ferry heroku release` prints: the code the app runs now (no config values). */
export interface ReleaseSummary {
  app: string;
  version: number;
  releaseId: string;
  slugId: string;
  stack: string;
  processTypes: Record<string, string>;
  commit: string | null;
  checksum: string | null;
  size: number | null;
}

function summarize(app: string, release: Release, slug: Slug): ReleaseSummary {
  return {
    app,
    version: release.version,
    releaseId: release.id,
    slugId: slug.id,
    stack: slug.stack.name,
    processTypes: slug.process_types,
    commit: slug.commit,
    checksum: slug.checksum,
    size: slug.size,
  };
}

function humanRelease(r: ReleaseSummary): string {
  const head = `${r.app} v${r.version}: slug ${r.slugId}, stack ${r.stack}, commit ${r.commit ?? "-"}`;
  return [head, ...Object.entries(r.processTypes).map(([type, command]) => `  ${type}: ${command}`)].join("\n");
}

/** --out must name a file in an existing, writable directory: checked before the download starts. */
function outFileWritable(file: string): void {
  const dir = dirname(resolve(file));
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new FerryError(`--out ${file}: directory ${dir} does not exist or is not writable`, 2);
  }
  if (existsSync(file) && statSync(file).isDirectory()) throw new FerryError(`--out ${file}: is a directory; name the slug file`, 2);
}

const SLUG_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function registerReleases(herokuCmd: Command): void {
  herokuCmd
    .command("release")
    .description("print the app's current release: version, slug id, stack, process types, commit")
    .requiredOption("--app <app>", "Heroku app name")
    .action(
      heroku(async (flags: { app: string }, command: Command) => {
        const app = appName(flags.app);
        const client = clientFromEnv(globals(command));
        const release = await client.currentRelease(app);
        const slug = await client.getSlug(app, release.slug!.id);
        emit(globals(command), summarize(app, release, slug), humanRelease);
      }),
    );

  herokuCmd
    .command("slug")
    .description("download the current release's slug (or --slug ID) to FILE, verified against Heroku's SHA-256 checksum")
    .requiredOption("--app <app>", "Heroku app name")
    .requiredOption("--out <file>", "where to write the slug (written only once its checksum matches)")
    .option("--slug <id>", "a given slug (as `ferry heroku release` printed it) rather than the current release's")
    .action(
      heroku(async (flags: { app: string; out: string; slug?: string }, command: Command) => {
        const app = appName(flags.app);
        if (flags.slug !== undefined && !SLUG_ID.test(flags.slug)) throw new FerryError(`--slug must be a slug id (a UUID): ${JSON.stringify(flags.slug)}`, 2);
        outFileWritable(flags.out);
        const client = clientFromEnv(globals(command));
        const slugId = flags.slug ?? (await client.currentRelease(app)).slug!.id;
        const slug = await client.getSlug(app, slugId);
        const got = await downloadSlug(slug, flags.out);
        const result = { app, slugId: slug.id, stack: slug.stack.name, file: got.file, bytes: got.bytes, checksum: got.checksum };
        emit(globals(command), result, (r) => `${r.app}: slug ${r.slugId} (${r.stack}) written to ${r.file}, ${r.bytes} bytes, ${r.checksum} verified`);
      }),
    );
}

function attempts(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 20) throw new InvalidArgumentError("--max-attempts must be a whole number 1-20");
  return Number(value);
}

export function registerHerokuCommands(program: Command): void {
  const herokuCmd = program
    .command("heroku")
    .description("drive the Heroku app being moved (HEROKU_API_KEY, HEROKU_API_URL)")
    .option("--max-attempts <n>", "tries per request on 429, 5xx or network errors", attempts, 5);
  registerMaintenance(herokuCmd);
  registerConfig(herokuCmd);
  registerRepoint(herokuCmd);
  registerScale(herokuCmd);
  registerListings(herokuCmd);
  registerScheduler(herokuCmd);
  registerReleases(herokuCmd);
}
