// `npm run bench:rehearsal`: the stack rehearsal of each example stack at about a
// million rows, one after the other, each report in bench/out/rehearsal-<stack>/, then
// one table of the figures docs/benchmarks.md keeps. Extra arguments go to every run (e.g.
// `npm run bench:rehearsal -- --size 200000`); `--kinds prod` runs one stack.
import { join } from "node:path";
import { readRehearsalReport, ROOT, runStackRehearsal } from "./lib/stack-rehearsal";

interface Kind {
  name: string;
  args: string[];
}

const KINDS: Kind[] = [
  { name: "staging", args: ["--stack", "staging", "--size", "1000000"] },
  { name: "prod", args: ["--stack", "prod", "--size", "1000000"] },
];

const outOf = (kind: Kind) => join(ROOT, "bench", "out", `rehearsal-${kind.name}`);

function runOne(kind: Kind, extra: string[]): Promise<number> {
  return runStackRehearsal([...kind.args, ...extra], outOf(kind));
}

function summary(kind: Kind): string {
  const r = readRehearsalReport(outOf(kind));
  if (!r) return `| ${kind.name} | no report |`;
  const stage = (n: string) => {
    const s = r.stages.find((x) => x.name === n);
    return s ? `${(s.durationMs / 1000).toFixed(1)} s` : "-";
  };
  const rows = Object.values(r.volumes.rows as Record<string, number>).reduce((a, b) => a + b, 0);
  return `| ${kind.name} | ${r.ok ? "passed" : "FAILED"} | ${rows} | ${r.acknowledgedWrites} | ${r.lostWrites} | ${r.lostRedisWrites ?? "-"} | ${(r.writeUnavailableMs / 1000).toFixed(1)} s | ${stage("replicate")} | ${stage("cutover")} |`;
}

async function main(argv: string[]): Promise<number> {
  let kinds = KINDS;
  const extra = [...argv];
  const k = extra.indexOf("--kinds");
  if (k >= 0) {
    const wanted = extra.splice(k, 2)[1]?.split(",") ?? [];
    kinds = KINDS.filter((x) => wanted.some((w) => x.name.startsWith(w)));
    if (!kinds.length) {
      process.stderr.write(`bench:rehearsal: --kinds must name some of ${KINDS.map((x) => x.name).join(", ")}\n`);
      return 2;
    }
  }
  let worst = 0;
  const ran: Kind[] = [];
  for (const kind of kinds) {
    process.stderr.write(`\n=== rehearsal ${kind.name} ===\n`);
    const code = await runOne(kind, extra);
    worst = Math.max(worst, code);
    if (code <= 1) ran.push(kind);
  }
  process.stdout.write(
    [
      "",
      `bench:rehearsal ${argv.join(" ")} on ${new Date().toISOString()}`,
      "| stack | result | rows | acknowledged writes | lost | lost Redis writes | writes unavailable (load generator) | replicate | cutover |",
      "|---|---|---|---|---|---|---|---|---|",
      ...ran.map(summary),
      "",
    ].join("\n"),
  );
  return worst;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
