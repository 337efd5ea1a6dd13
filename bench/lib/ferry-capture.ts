// ferry's side of the capture bench: the real `ferry` CLI as the stages run it, the URLs
// in the environment variables the contract names, never in argv.
//
// What the bench assumes of the capture strategy (issue 25), stated so a different
// shape fails in one line rather than measuring something else:
// - `ferry pg replicate --strategy capture` installs the capture, copies, then applies the
//   log in the foreground until SIGTERM; run again, it resumes from the log;
// - `ferry pg cutover --strategy capture` fences, applies the rest, verifies, opens the
//   target and prints its result as JSON with `writeUnavailableMs`, like the other strategies.
//   While it refuses capture ("no cutover yet"), the bench times the way its refusal tells a
//   user to go instead: the app's writes stopped, `ferry pg replicate --strategy capture
//   --until-caught-up`, `ferry pg verify`; and says so next to the figure.
import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { ENV, FerryCommand, pg, pgFenceOf } from "../../dataplane/cli/contract";
import { runNode } from "../../tests/support/run-node";

const ROOT = join(__dirname, "../..");
const BIN = join(ROOT, "bin/ferry.js");

const replicateCapture = (untilCaughtUp = false): FerryCommand => pg.replicate("capture", { untilCaughtUp });
const cutoverCapture = (maxLagBytes: number, timeoutSeconds: number): FerryCommand => pg.cutover("capture", maxLagBytes, timeoutSeconds, pgFenceOf("heroku"));

const lastLine = (text: string) => text.trim().split("\n").filter(Boolean).at(-1) ?? "";

/** The parts of `ferry --json pg verify`'s report the manual cutover reads. */
interface VerifyReport {
  tables?: { ok: boolean }[];
  sequences?: { sequence: string; ok: boolean }[];
  privileges?: { ok: boolean; differences?: string[] };
}

/** The schema ferry's capture installs on the source (its trigger functions). */
const CAPTURE_SCHEMA = "ferry_capture";

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** What a failed `ferry --json` command said, in one line: its JSON's error, first difference or differing tables, else its JSON squeezed, else its last line. */
function said(r: { stdout: string; stderr: string }): string {
  try {
    const json = JSON.parse(r.stdout) as { error?: unknown; firstDifference?: unknown; tables?: { ok?: boolean }[] };
    if (typeof json.error === "string") return json.error;
    if (typeof json.firstDifference === "string") return json.firstDifference;
    // A verify's report: the tables that differ.
    const differing = json.tables?.filter((t) => t.ok === false);
    return JSON.stringify(differing?.length ? differing : json).slice(0, 600);
  } catch {
    return lastLine(r.stderr) || lastLine(r.stdout);
  }
}

export class FerryCapture {
  private replicating?: ChildProcess;
  private exited?: Promise<{ code: number | null; stderr: string }>;
  private readonly env: NodeJS.ProcessEnv;

  constructor(sourceUrl: string, targetUrl: string) {
    this.env = { ...process.env, [ENV.sourceUrl]: sourceUrl, [ENV.targetUrl]: targetUrl };
  }

  /** Start (or resume) `ferry pg replicate --strategy capture` in the background. */
  replicate(): void {
    const child = spawn(process.execPath, [BIN, ...replicateCapture().argv.slice(1)], { cwd: ROOT, env: this.env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
    this.replicating = child;
    this.exited = new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, stderr }));
    });
  }

  /** Fails, in one line, once replicate has exited while the bench expects it to be applying. */
  async failIfExited(): Promise<void> {
    if (!this.replicating || this.replicating.exitCode === null) return;
    const { code, stderr } = await this.exited!;
    throw new Error(code === 0
      ? "ferry pg replicate --strategy capture returned; the bench expects it to apply the log in the foreground until stopped"
      : `ferry pg replicate --strategy capture exited ${code}: ${lastLine(stderr)}`);
  }

  /** Stop applying: SIGTERM, as an operator's Ctrl-C or a runner's stop would. */
  async stop(): Promise<void> {
    if (!this.replicating) return;
    await this.failIfExited();
    this.replicating!.kill("SIGTERM");
    await this.exited;
    this.replicating = undefined;
  }

  /** `ferry pg cutover --strategy capture`: the window ferry reports, or its refusal while it has no cutover for capture. */
  async cutover(): Promise<{ ms: number } | { refused: string }> {
    // One applier at a time: the cutover applies the rest itself, and would wait for the
    // foreground apply's lock (as the program runs it, replicate --until-caught-up has returned).
    await this.stop();
    const r = await this.ferry(cutoverCapture(16 * 1024 * 1024, 600));
    if (r.status !== 0 && /no cutover yet/.test(r.stderr + r.stdout)) return { refused: said(r) };
    if (r.status !== 0) throw new Error(`ferry pg cutover --strategy capture exited ${r.status}: ${said(r)}`);
    const ms = (JSON.parse(r.stdout) as { writeUnavailableMs?: unknown }).writeUnavailableMs;
    if (typeof ms !== "number") throw new Error("ferry pg cutover --strategy capture printed no writeUnavailableMs");
    return { ms };
  }

  /**
   * The way the refusal points to, the app's writes already stopped: the applier stopped,
   * the rest applied, verified. What verify found besides equal rows is returned, not
   * hidden: capture sets sequences at its cutover, so before one they are behind.
   */
  async catchUpAndVerify(): Promise<string> {
    await this.stop();
    const caughtUp = await this.ferry(replicateCapture(true));
    if (caughtUp.status !== 0) throw new Error(`ferry pg replicate --strategy capture --until-caught-up exited ${caughtUp.status}: ${said(caughtUp)}`);
    const verify = await this.ferry(pg.verify());
    if (verify.status === 0) return "verify: equal";
    const report = parseJson(verify.stdout) as VerifyReport | undefined;
    const behind = report?.sequences?.filter((q) => !q.ok) ?? [];
    const privileges = report?.privileges?.differences ?? [];
    // Its own trigger functions are on the source only until a cutover removes them.
    const ownObjectsOnly = privileges.every((d) => d.includes(`${CAPTURE_SCHEMA}.`));
    const rowsEqual = !!report?.tables?.length && report.tables.every((t) => t.ok);
    if (!rowsEqual || !ownObjectsOnly) throw new Error(`ferry pg verify exited ${verify.status}: ${said(verify)}`);
    return `verify: every table equal; ${behind.length} sequence(s) behind (capture sets them at its cutover)` +
      (privileges.length ? `; ${privileges.length} privilege difference(s) on ferry's own ${CAPTURE_SCHEMA} functions` : "");
  }

  private ferry(cmd: FerryCommand) {
    return runNode([BIN, ...cmd.argv.slice(1)], { cwd: ROOT, env: this.env });
  }

  /** After the run: whatever still applies is stopped. */
  async close(): Promise<void> {
    if (this.replicating && this.replicating.exitCode === null) {
      this.replicating.kill("SIGTERM");
      await this.exited;
    }
  }
}
