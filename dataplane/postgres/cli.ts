// `ferry pg ...`: the Postgres data plane from a terminal. The Pulumi stages and the
// rehearsal run exactly these commands with the URLs in FERRY_SOURCE_URL (or, for a Heroku
// source, its add-on's current URL: ../cli/source.ts) and FERRY_TARGET_URL. Exit codes: 0 ok, 1 a check or gate failed, 2 bad input.
import { Command } from "commander";
import { FerryError, GlobalOptions, action, emit, formatBytes, progressBar, redact, reportTo, resolveUrl } from "../cli/common";
import { sourceUrl as sourceUrlOf } from "../cli/source";
import { cleanup } from "./cutover/cleanup";
import { withClient } from "./connection";
import { chooseStrategy, recordedStrategy } from "./recorded";
import { cutover, GateNotMet } from "./cutover/cutover";
import { STRATEGIES, Strategy } from "./names";
import { preflight } from "./preflight";
import { replicateLogical } from "./replication/logical";
import { replicatePhysical } from "./replication/physical";
import { replicateCapture } from "./capture/replicate";
import { rollback } from "./cutover/rollback";
import { status } from "./status";
import { trialCopy } from "./replication/trial";
import { describeDifference } from "./verify/verify";
import { verifyAfterCutover } from "./cutover/verified";
import { backupPostgres, restorePostgres } from "../backup/postgres";
import { backupObject, describeStored, objectOptions } from "../backup/cli";

interface CommonFlags extends GlobalOptions {
  source?: string;
  target?: string;
  strategy?: string;
  standbyDir?: string;
  jobs?: string;
  fixReplicaIdentity?: boolean;
  diskHeadroom?: string;
  maxLagBytes?: string;
  timeout?: string;
  chunkRows?: string;
  check?: boolean;
  requireCutover?: boolean;
  unfencedRole?: string[];
  providerSuperusers?: boolean;
  untilCaughtUp?: boolean;
}

/**
 * The fence's flags (preflight and cutover): writers ferry's role cannot fence are
 * refused unless the operator says they are stopped, or are the provider's own.
 */
export function fenceFlags(cmd: Command): Command {
  return cmd
    .option("--unfenced-role <role>", "a role that can write but that ferry cannot fence, whose every writer you have stopped (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--provider-superusers", "superusers ferry's role cannot fence belong to the provider (Heroku Postgres gives customers none): do not refuse over them");
}

/** The fence options the flags give. */
export const fenceOptions = (o: { unfencedRole?: string[]; providerSuperusers?: boolean }) => ({
  unfencedRoles: o.unfencedRole?.length ? o.unfencedRole : undefined,
  providerSuperusers: o.providerSuperusers === true ? true : undefined,
});

/** The --strategy value, checked. */
export function parseStrategy(value: string | undefined, required = true): Strategy | undefined {
  if (value === undefined) {
    if (required) throw new FerryError(`missing --strategy: pass --strategy ${STRATEGIES.join("|")}`, 2);
    return undefined;
  }
  if (!STRATEGIES.includes(value as Strategy)) {
    throw new FerryError(`--strategy must be one of ${STRATEGIES.join(", ")} (got "${value}")`, 2);
  }
  return value as Strategy;
}

/** A numeric flag: a finite number >= min (integers only unless `fraction`). */
export function parseNumber(flag: string, value: string | undefined, min: number, fraction = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || (!fraction && !Number.isInteger(n))) {
    throw new FerryError(`${flag} must be ${fraction ? "a number" : "an integer"} >= ${min} (got "${value}")`, 2);
  }
  return n;
}

/** The strategy replicate recorded on the target; a --strategy that disagrees is refused before anything changes. */
export async function strategyToCut(flag: Strategy | undefined, sourceUrl: string, targetUrl: string): Promise<Strategy> {
  const recorded = await withClient(sourceUrl, (s) => withClient(targetUrl, (t) => recordedStrategy(s, t))).catch((err: Error) => {
    // Unreadable (a stopped standby, say): a flag decides, and the cutover reports what is wrong.
    if (flag) return null;
    throw new FerryError(`missing --strategy, and what ferry pg replicate recorded cannot be read: ${err.message.split("\n")[0]}`, 1);
  });
  return chooseStrategy(flag, recorded);
}

/** Warnings (a privilege the target could not take, a setting it refused) on stderr, one line each. */
const warn = (warnings: string[]) => {
  for (const w of warnings) process.stderr.write(`ferry: warning: ${redact(w)}\n`);
};

/** FERRY_SOURCE_URL, or a Heroku add-on's current URL (../cli/source.ts). */
const sourceUrl = (o: CommonFlags) => sourceUrlOf("postgres", o.source, "--source", o);
const targetUrl = (o: CommonFlags) => resolveUrl(o.target, "FERRY_TARGET_URL", "--target");

function urlOptions(cmd: Command): Command {
  return cmd
    .option("--source <url>", "source database URL (prefer FERRY_SOURCE_URL, or for Heroku FERRY_SOURCE_HEROKU_APP + FERRY_SOURCE_HEROKU_ADDON with HEROKU_API_KEY: argv is visible to other users)")
    .option("--target <url>", "target database URL (prefer FERRY_TARGET_URL)")
    .addHelpText("after", "\nTLS: sslmode in each URL means what it means to libpq (no sslmode: prefer); the CA for\nverify-ca/verify-full comes from sslrootcert in the URL, PGSSLROOTCERT or FERRY_PG_CA_FILE\n(for RDS: the global bundle). Through a forward: keep the certificate's name as the host,\nadd hostaddr=IP and the forward's port.");
}

const flags = (cmd: Command) => cmd.optsWithGlobals() as CommonFlags;

function registerPreflight(pg: Command): void {
  fenceFlags(urlOptions(pg.command("preflight").description("check everything a migration needs before touching anything")))
    .option("--strategy <s>", "physical, logical, dump or capture")
    .option("--fix-replica-identity", "set REPLICA IDENTITY FULL on tables without a primary key (logical)")
    .option("--standby-dir <dir>", "physical: where the standby will live (free disk is checked there)")
    .option("--disk-headroom <x>", "free disk must be at least data size times this", "1.5")
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd);
      const strategy = parseStrategy(o.strategy)!;
      const report = await preflight({
        sourceUrl: await sourceUrl(o),
        targetUrl: strategy === "physical" ? undefined : targetUrl(o),
        strategy,
        fixReplicaIdentity: o.fixReplicaIdentity,
        standbyDir: o.standbyDir,
        diskHeadroom: parseNumber("--disk-headroom", o.diskHeadroom, 0, true),
        ...fenceOptions(o),
      });
      emit(o, report, (r) =>
        [...r.checks.map((c) => `${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`), r.ok ? `ready for ${strategy}` : `not ready for ${strategy}`].join("\n"),
      );
      const failed = report.checks.find((c) => !c.ok);
      if (failed) process.stderr.write(`ferry: not ready for ${strategy}: ${failed.name}: ${redact(failed.detail)}\n`);
      return report.ok ? 0 : 1;
    }));
}

function registerReplicate(pg: Command): void {
  urlOptions(pg.command("replicate").description("start replicating (physical, logical), capture changes by trigger and apply them (capture), or make a timed trial copy (dump)"))
    .option("--strategy <s>", "physical, logical, dump or capture")
    .option("--standby-dir <dir>", "physical: the standby's data directory on this (the target) host")
    .option("--jobs <n>", "dump, capture: parallel connections of the copy")
    .option("--until-caught-up", "capture: return once every change committed before it started applying is on the target (default: apply until SIGTERM or SIGINT)")
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd);
      const strategy = parseStrategy(o.strategy)!;
      const jobs = parseNumber("--jobs", o.jobs, 1);
      const [source, target] = [await sourceUrl(o), targetUrl(o)];
      const bar = progressBar(o);
      try {
        if (strategy === "physical") {
          if (!o.standbyDir) throw new FerryError("missing --standby-dir: physical replication needs the standby's data directory", 2);
          const r = await replicatePhysical({ sourceUrl: source, targetUrl: target, standbyDir: o.standbyDir });
          emit(o, r, (x) => `standby ${x.created ? "created" : "already there"} in ${x.standbyDir}, streaming on port ${x.port} through slot ${x.slot} (${x.durationMs} ms)`);
        } else if (strategy === "capture") {
          await runCapture(o, source, target, jobs, bar);
        } else if (strategy === "logical") {
          const r = await replicateLogical({ sourceUrl: source, targetUrl: target, onSync: reportTo(bar, "initial sync (tables)") });
          bar.stop();
          warn(r.warnings);
          emit(o, r, (x) => `logical replication of ${x.tables} table(s) streaming (${x.performed.join(", ") || "nothing left to do"}; ${x.durationMs} ms)`);
        } else {
          const report = reportTo(bar, "trial copy (bytes)");
          const r = await trialCopy({ sourceUrl: source, targetUrl: target, jobs, onProgress: (p) => report(p.bytesDone, p.bytesTotal) });
          bar.stop();
          warn(r.warnings);
          emit(o, r, (x) => `trial copy: ${x.tables} table(s), ${x.rows} row(s), ${formatBytes(x.bytes)} in ${x.durationMs} ms (${x.phases.map((p) => `${p.name} ${p.ms} ms`).join(", ")}); the cutover copy will take about as long`);
        }
      } finally {
        bar.stop();
      }
    }));
}

/** The capture strategy's replicate: install, copy, then apply until caught up or told to stop (the batch in flight finishes). */
async function runCapture(o: CommonFlags, source: string, target: string, jobs: number | undefined, bar: ReturnType<typeof progressBar>): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const report = reportTo(bar, "initial copy (bytes)");
  try {
    const r = await replicateCapture({
      sourceUrl: source,
      targetUrl: target,
      jobs,
      untilCaughtUp: o.untilCaughtUp === true,
      signal: stop.signal,
      onCopyProgress: (p) => report(p.bytesDone, p.bytesTotal),
    });
    bar.stop();
    warn(r.warnings);
    emit(o, r, (x) => `capture of ${x.tables} table(s) (${x.performed.join(", ") || "resumed"}): ${x.appliedChanges} change(s) applied in ${x.batches} batch(es); lag ${x.lag.rows} row(s), ${x.lag.seconds.toFixed(2)} s (${x.durationMs} ms)`);
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}

function registerStatus(pg: Command): void {
  urlOptions(pg.command("status").description("per-table state, lag, copy progress and time left"))
    .option("--strategy <s>", "physical, logical, dump or capture (default: detected from the target)")
    .option("--require-cutover", "exit 1 unless the cutover is done and the source still fenced (the gate before the source is released)")
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd);
      const r = await status({ sourceUrl: await sourceUrl(o), targetUrl: targetUrl(o), strategy: parseStrategy(o.strategy, false) });
      // After a cutover the target takes writes the source never sees, so a verify can only
      // differ; what makes releasing the source safe is a finished cutover (its verify ran
      // behind the fence) and a source still fenced (nothing written there since).
      if (o.requireCutover && !(r.cutover?.done && r.cutover.fenced)) {
        throw new FerryError(`refusing: the cutover is ${r.cutover?.done ? "done but the source is no longer fenced (it may have taken writes since)" : "not done"}; the source still holds data the target lacks`, 1);
      }
      emit(o, r, (x) => {
        const lines = [`${x.strategy}: ${x.phase}`];
        if (x.lag) lines.push(`lag: ${x.lag.rows !== undefined ? `${x.lag.rows} row(s), ` : ""}${formatBytes(x.lag.bytes)}${x.lag.seconds !== null ? `, ${x.lag.seconds.toFixed(2)} s` : ""}`);
        if (x.copy) {
          const eta = x.copy.etaSeconds === null ? "unknown (not moving)" : `${x.copy.etaSeconds} s`;
          lines.push(`copy: ${x.copy.tablesDone}/${x.copy.tablesTotal} tables, ${formatBytes(x.copy.bytesDone)} of ${formatBytes(x.copy.bytesTotal)}, time left ${eta}`);
        }
        for (const t of x.tables) lines.push(`  ${t.table}: ${t.state}`);
        if (x.cutover) lines.push(`cutover: ${x.cutover.done ? "done" : x.cutover.fenced ? "source fenced" : "started"} (${x.cutover.steps.join(", ")})`);
        return lines.join("\n");
      });
    }));
}

function registerVerify(pg: Command): void {
  urlOptions(pg.command("verify").description("compare row counts and checksums per key range, and sequences"))
    .option("--jobs <n>", "parallel connection pairs")
    .option("--chunk-rows <n>", "rows per checksummed key range")
    .option("--fast", "count every table, checksum sampled ranges only")
    .option("--show-keys", "print the differing key's value (a key is data: by default a difference is its table, key range and a hash)")
    .option("--no-repair", "after a cutover, report a difference without copying the differing rows again from the fenced source")
    .option("--live", "after a cutover that resumed the app on the target (the pooler), compare now instead of reporting the cutover's verify of the target as opened (the app's writes since will differ)")
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd) as CommonFlags & { fast?: boolean; showKeys?: boolean; repair?: boolean; live?: boolean };
      const r = await verifyAfterCutover({
        repair: o.repair !== false,
        live: o.live,
        sourceUrl: await sourceUrl(o),
        targetUrl: targetUrl(o),
        jobs: parseNumber("--jobs", o.jobs, 1),
        chunkRows: parseNumber("--chunk-rows", o.chunkRows, 1),
        fast: o.fast,
        showKeys: o.showKeys,
      });
      emit(o, r, (x) =>
        [...x.tables.map((t) => (t.ok ? `ok   ${t.table}: ${t.sourceRows} / ${t.targetRows} rows` : `DIFF ${describeDifference(t)}`)),
          ...x.sequences.filter((s) => !s.ok).map((s) => `DIFF sequence ${s.sequence}: ${s.source} / ${s.target}`),
          ...x.privileges.differences.map((d) => `DIFF privilege ${d}`),
          ...(x.privileges.missingRoles.length ? [`note: the source grants to role(s) the target does not have: ${x.privileges.missingRoles.join(", ")}`] : []),
          ...(x.repaired ?? []).map((line) => `repaired ${line}`),
          ...(x.atOpen ? [`compared by the cutover at ${x.atOpen}: the fenced source against the target as opened, before the app's first write there`] : []),
          x.ok ? `identical (${x.durationMs} ms)` : `different: ${x.firstDifference}${x.notRepaired ? ` (not repaired: ${x.notRepaired})` : ""}`].join("\n"),
      );
      return r.ok ? 0 : 1;
    }));
}

function registerCutover(pg: Command): void {
  fenceFlags(urlOptions(pg.command("cutover").description("gated switch: fence the source, drain, switch, verify (idempotent, resumable)")))
    .option("--strategy <s>", "physical, logical, dump or capture (default: the one ferry pg replicate recorded; a different one is refused)")
    .option("--max-lag-bytes <n>", "gate: lag must be under this before the fence (capture: the change log is applied until it is)", "204800")
    .option("--timeout <seconds>", "how long to wait for the gate (capture: to catch up) and for the drain", "60")
    .option("--jobs <n>", "dump/verify: parallel connections")
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd);
      // Every flag checked before a server (Heroku's API included) is asked anything.
      const flagged = parseStrategy(o.strategy, false);
      const numbers = {
        maxLagBytes: parseNumber("--max-lag-bytes", o.maxLagBytes, 0),
        timeoutSeconds: parseNumber("--timeout", o.timeout, 1),
        jobs: parseNumber("--jobs", o.jobs, 1),
      };
      const [source, target] = [await sourceUrl(o), targetUrl(o)];
      const strategy = await strategyToCut(flagged, source, target);
      // The dump's copy is the long step inside `pulumi up`: its progress shows there too (progressBar).
      const bar = progressBar(o);
      const copied = reportTo(bar, "cutover copy (bytes)");
      const opts = {
        sourceUrl: source,
        targetUrl: target,
        strategy,
        ...numbers,
        ...fenceOptions(o),
        onStep: o.json ? undefined : (s: { name: string; ms: number; detail?: string }) => process.stderr.write(`  ${s.name} (${s.ms} ms)${s.detail ? `: ${s.detail}` : ""}\n`),
        onCopyProgress: (p: { bytesDone: number; bytesTotal: number }) => copied(p.bytesDone, p.bytesTotal),
        // Run alone, the app may write until the fence (capture: verify it all before the
        // fence); the program's `ferry cutover` stops the app's writers first.
        verifyBeforeFence: true,
      };
      try {
        const r = await cutover(opts);
        emit(o, r, (x) =>
          x.ok
            ? `cut over to the target: writes unavailable for ${x.writeUnavailableMs} ms, lag at fence ${x.lagBytesAtFence} bytes${x.resumed ? " (resumed)" : ""}` +
              (x.verify?.repaired ? `\nrepaired before the target was released: ${x.verify.repaired.join("; ")}` : "")
            : `cutover failed: ${x.error}`,
        );
        return r.ok ? 0 : 1;
      } catch (err) {
        if (err instanceof GateNotMet) {
          emit(o, { ok: false, strategy, writeUnavailableMs: null, lagBytesAtFence: null, steps: [], resumed: false, error: err.message }, () => "");
          throw new FerryError(err.message, 1);
        }
        throw err;
      } finally {
        bar.stop();
      }
    }));
}

function registerRollback(pg: Command): void {
  urlOptions(pg.command("rollback").description("before the target took writes: unfence the source and tear down replication"))
    .option("--strategy <s>", "physical, logical, dump or capture")
    .option("--standby-dir <dir>", "physical: stop the standby in this directory (on its host)")
    .option("--check", "only check that going back loses nothing (exit 1 as the rollback would refuse); change nothing")
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd);
      const r = await rollback({ sourceUrl: await sourceUrl(o), targetUrl: targetUrl(o), strategy: parseStrategy(o.strategy)!, standbyDir: o.standbyDir, check: !!o.check });
      emit(o, r, (x) => x.actions.join("\n"));
    }));
}

function registerCleanup(pg: Command): void {
  urlOptions(pg.command("cleanup").description("drop the publication, subscription, replication slots and capture triggers"))
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd);
      const r = await cleanup({ sourceUrl: await sourceUrl(o), targetUrl: o.target ?? process.env.FERRY_TARGET_URL ? targetUrl(o) : undefined });
      emit(o, r, (x) => [...x.dropped.map((d) => `dropped ${d}`), ...x.kept.map((k) => `kept ${k}`), x.dropped.length || x.kept.length ? "" : "nothing to clean up"].filter(Boolean).join("\n"));
      return r.ok ? 0 : 1;
    }));
}

function registerBackup(pg: Command): void {
  objectOptions(urlOptions(pg.command("backup").description("custom-format pg_dump of the source to S3, checksummed and read back (the final backup before decommission)")))
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd) as CommonFlags & { bucket: string; key: string; region?: string };
      const r = await backupPostgres(await sourceUrl(o), backupObject(o));
      emit(o, r, (x) => describeStored("backed up the source to", x));
    }));
}

function registerRestore(pg: Command): void {
  objectOptions(urlOptions(pg.command("restore").description("restore a backup from S3 into the empty database at --target, after checking its checksum (the way back from decommission)")))
    .action(action(async (_o: unknown, cmd: Command) => {
      const o = flags(cmd) as CommonFlags & { bucket: string; key: string; region?: string };
      const r = await restorePostgres(backupObject(o), targetUrl(o));
      emit(o, r, (x) => describeStored("restored into the target from", x, `${x.relations} table(s), view(s) and sequence(s)`));
    }));
}

export function registerPostgresCommands(program: Command): void {
  const pg = program.command("pg").description("PostgreSQL: preflight, replicate, status, verify, cutover, rollback, cleanup, backup, restore");
  registerPreflight(pg);
  registerReplicate(pg);
  registerStatus(pg);
  registerVerify(pg);
  registerCutover(pg);
  registerRollback(pg);
  registerCleanup(pg);
  registerBackup(pg);
  registerRestore(pg);
}
