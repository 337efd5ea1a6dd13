#!/usr/bin/env bash
# Run a test suite N times in a row and tally the failures by test name: a test that
# fails in some runs and not others is timing-sensitive and needs a condition to wait
# for (tests/support/eventually.ts), not a longer sleep.
#
#   scripts/flake-hunt.sh [-f] [-l] N [test files...]
#     test files: only these (default: the whole suite)
#     -f  the fault suite (vitest.faults.config.ts) instead of npm test's
#     -l  keep both cores busy meanwhile (two busy loops), like a shared CI machine
#
# Logs and per-run JSON reports go to a temp directory, printed at the end; the exit
# status is 1 if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

config=vitest.config.ts
load=0
while getopts "fl" opt; do
  case $opt in
    f) config=vitest.faults.config.ts ;;
    l) load=1 ;;
    *) echo "usage: scripts/flake-hunt.sh [-f] [-l] N [test files...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
runs=${1:-}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "flake-hunt: N (how many runs) must be a positive integer, got '${runs}'" >&2
  exit 2
fi
shift

out=$(mktemp -d -t flake-hunt.XXXXXX)
hogs=()
stop_hogs() { for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_hogs EXIT
if [ "$load" = 1 ]; then
  for _ in 1 2; do
    node -e 'for (;;) {}' &
    hogs+=($!)
  done
fi

# npm test type-checks first; once is enough for N runs of the same tree.
npx tsc --noEmit -p tsconfig.json

for i in $(seq 1 "$runs"); do
  started=$(date +%s)
  status=passed
  npx vitest run --config "$config" --reporter=default --reporter=json --outputFile.json="$out/run-$i.json" "$@" \
    >"$out/run-$i.log" 2>&1 || status=failed
  echo "$status" >"$out/run-$i.status"
  echo "run $i/$runs: $status in $(($(date +%s) - started)) s"
done

node - "$out" "$runs" <<'EOF'
const fs = require("node:fs");
const path = require("node:path");
const [dir, runs] = process.argv.slice(2);
const failures = new Map();
let failedRuns = 0;
for (let i = 1; i <= Number(runs); i++) {
  const file = path.join(dir, `run-${i}.json`);
  if (!fs.existsSync(file)) {
    failedRuns++;
    failures.set("(no report: see the run's log)", [...(failures.get("(no report: see the run's log)") ?? []), i]);
    continue;
  }
  const report = JSON.parse(fs.readFileSync(file, "utf8"));
  let failed = false;
  for (const suite of report.testResults) {
    const names = suite.assertionResults.filter((t) => t.status === "failed").map((t) => t.fullName);
    // A file that failed before any test ran (a hook, an import) has no failed test.
    if (suite.status === "failed" && !names.length) names.push("(the file itself: a hook or an import)");
    for (const name of names) {
      const key = `${path.relative(process.cwd(), suite.name)} > ${name}`;
      failures.set(key, [...(failures.get(key) ?? []), i]);
      failed = true;
    }
  }
  // Every test green and the run still red (vitest's JSON still says success): an error
  // outside any test, such as an unhandled rejection or the worker timing out: name it.
  const status = fs.readFileSync(path.join(dir, `run-${i}.status`), "utf8").trim();
  if (!failed && status === "failed") {
    const log = fs.readFileSync(path.join(dir, `run-${i}.log`), "utf8");
    const error = /Unhandled (?:Error|Rejection) ⎯+\n+([^\n]+)/.exec(log)?.[1] ?? "(failed outside any test: see the run's log)";
    failures.set(error.trim(), [...(failures.get(error.trim()) ?? []), i]);
    failed = true;
  }
  if (failed) failedRuns++;
}
console.log(`\n${runs} run(s), ${failedRuns} with failures; logs in ${dir}`);
for (const [name, inRuns] of [...failures].sort((a, b) => b[1].length - a[1].length)) {
  console.log(`  ${inRuns.length}/${runs}  ${name}  (runs ${inRuns.join(", ")})`);
}
process.exitCode = failedRuns ? 1 : 0;
EOF
