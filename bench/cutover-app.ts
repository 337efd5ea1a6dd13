// `npm run bench:cutover-app` (issue 26): what the app's users feel at cutover with the
// pooler the stack declares (PgBouncer and the Redis proxy, paused, repointed and resumed
// inside the cutover) against the same stack without `ferry:target.pooler`, where the app's
// ECS services roll onto new task definitions at cutover. Each round runs the stack
// rehearsal once per path (`--up-to cutover`: decommission changes nothing at cutover),
// the order alternating; each report in bench/out/cutover-app/<stack>/round-N-<path>/,
// its output beside it in round-N-<path>.log. Run it under the rehearsal lock:
//
//   flock /tmp/ferry-rehearsal.lock npm run bench:cutover-app -- --stack staging --rounds 3
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppPath, CutoverAppArgs, CutoverAppRun, cutoverAppRun, parseCutoverAppArgs, pathOrder, roundTable, stackWithoutPooler, summaryTable } from "./lib/cutover-app";
import { log } from "./lib/report";
import { loadLine } from "./lib/rounds";
import { clearReport, readRehearsalReport, ROOT, runStackRehearsal } from "./lib/stack-rehearsal";

/** The stack file of each path: the stack's own, and a copy without its pooler (named alike, so the rehearsal's stack name is the same). */
function stackFiles(stack: string, dir: string): Record<AppPath, string> {
  const declared = join(ROOT, `Pulumi.${stack}.yaml`);
  if (!existsSync(declared)) throw new Error(`--stack: no stack file ${declared}`);
  const text = readFileSync(declared, "utf8");
  const rollDir = join(dir, "roll");
  mkdirSync(rollDir, { recursive: true });
  const roll = join(rollDir, `Pulumi.${stack}.yaml`);
  writeFileSync(roll, stackWithoutPooler(text, declared));
  return { pooler: declared, roll };
}

/** One rehearsal of one path, and what its report says about the cutover. */
async function rehearse(args: CutoverAppArgs, dir: string, stackFile: string, path: AppPath, round: number): Promise<CutoverAppRun> {
  const out = join(dir, `round-${round + 1}-${path}`);
  clearReport(out);
  log(`round ${round + 1}/${args.rounds}: ${path}: rehearsing ${stackFile} (output in ${out}.log)`);
  const exitCode = await runStackRehearsal(["--stack-file", stackFile, "--size", args.size, "--up-to", "cutover"], out, `${out}.log`);
  const run = cutoverAppRun(path, round, exitCode, readRehearsalReport(out));
  log(`round ${round + 1}/${args.rounds}: ${path}: ${run.passed ? "passed" : `FAILED (exit ${exitCode})`}, report in ${out}/report.md`);
  return run;
}

async function main(argv: string[]): Promise<number> {
  const args = parseCutoverAppArgs(argv);
  const dir = join(ROOT, "bench", "out", "cutover-app", args.stack);
  const files = stackFiles(args.stack, dir);
  console.log(`cutover-app: ${args.stack} at --size ${args.size}, the pooler against the service roll, ${args.rounds} round(s) in alternating order (the cutover's pulumi up, as its users felt it)`);
  const runs: CutoverAppRun[] = [];
  for (let round = 0; round < args.rounds; round++) {
    const ran: CutoverAppRun[] = [];
    for (const path of pathOrder(round)) ran.push(await rehearse(args, dir, files[path], path, round));
    runs.push(...ran);
    console.log(`\n${roundTable(round, ran)}`);
  }
  console.log(`\n${summaryTable(runs)}`);
  console.log(loadLine());
  return runs.every((r) => r.passed) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench:cutover-app: ${(err as Error).message}`);
    process.exit(2);
  },
);
