// `npm run rehearse -- [options]`: rehearse the whole migration on this machine and
// write report.md, report.json and report.svg. Exit 0 when every acknowledged write
// reached the target and every check passed; 1 when not; 2 on bad options; 3 when a
// required program (PostgreSQL, Redis, nginx) is not installed.
import { CommanderError } from "commander";
import { parseOptions } from "./options";
import { rehearse, RehearsalError } from "./rehearse";
import { formatMs } from "./report/markdown";
import { redact } from "../migrations/cli/common";

const started = Date.now();
const log = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${redact(line)}\n`);

async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`rehearse: ${(err as Error).message}\n`);
    return 2;
  }
  const { report, exitCode } = await rehearse(opts, log);
  const verdict = report.ok ? "PASSED" : "FAILED";
  process.stdout.write(
    [
      `rehearsal ${verdict}: ${report.acknowledgedWrites} writes acknowledged, ${report.lostWrites} lost`,
      `writes unavailable (longest, seen by the load generator): ${formatMs(report.writeUnavailableMs)}; ferry's cutover fence: ${report.cutoverWriteUnavailableMs === null ? "not reported" : formatMs(report.cutoverWriteUnavailableMs)}`,
      ...report.stages.map((s) => `  ${s.name.padEnd(13)} ${formatMs(s.durationMs).padStart(10)}  ${s.outcome}${s.outcome === "ok" ? "" : `: ${s.detail ?? ""}`}`),
      `report: ${opts.outDir}/report.md (and report.json, report.svg)`,
    ].join("\n") + "\n",
  );
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    const code = err instanceof RehearsalError ? err.exitCode : 1;
    process.stderr.write(`rehearse: ${redact(err instanceof Error ? err.message : String(err)).split("\n")[0]}\n`);
    process.exit(code);
  },
);
