// Crash points: the moments inside a cutover where the crash tests kill `ferry` as kill -9
// would (tests/dataplane/**/crash*.test.ts). A cutover claims it resumes from any moment
// with at most one writable primary; the tests can only prove that for moments they can
// reach, so every state-changing statement of a step, the end of its action (before its
// record is saved) and the end of the step (record saved) call crashPoint with a name.
// Without one of the variables below set, crashPoint does nothing.
//
//   FERRY_TEST_CRASH_AFTER_STEP=<step>     after the step's action and its saved record
//   FERRY_TEST_CRASH_BEFORE_RECORD=<step>  after the step's action, before its record is saved
//   FERRY_TEST_CRASH_AT=<point>            at a point: `name#k` (its k-th pass), `name` (its first), or n (the n-th point passed)
//   FERRY_TEST_CRASH_LIST=1                every point passed, as `ferry: crash point <name#k>` on stderr
//
// A point's name says what has just happened: `<step>:<what>`, e.g. `fence:role-read-only`,
// `detach:subscription-dropped`, `verify:before-record`, `verify:after-step`.

const passes = new Map<string, number>();
let passed = 0;

/** The printed prefix of a listed point (FERRY_TEST_CRASH_LIST=1). */
export const CRASH_POINT_PREFIX = "ferry: crash point ";

/** A test may kill the process here (see above): `name` is what has just happened. */
export function crashPoint(name: string): void {
  const env = process.env;
  if (!env.FERRY_TEST_CRASH_AT && !env.FERRY_TEST_CRASH_LIST && !env.FERRY_TEST_CRASH_AFTER_STEP && !env.FERRY_TEST_CRASH_BEFORE_RECORD) return;
  const pass = (passes.get(name) ?? 0) + 1;
  passes.set(name, pass);
  passed++;
  const label = `${name}#${pass}`;
  // Synchronous on a pipe or file (Linux): the line is out before a kill that follows.
  if (env.FERRY_TEST_CRASH_LIST === "1") process.stderr.write(`${CRASH_POINT_PREFIX}${label}\n`);
  const at = env.FERRY_TEST_CRASH_AT;
  const hit = (at !== undefined && (at === label || (at === name && pass === 1) || at === String(passed)))
    || (pass === 1 && (name === `${env.FERRY_TEST_CRASH_AFTER_STEP}:after-step` || name === `${env.FERRY_TEST_CRASH_BEFORE_RECORD}:before-record`));
  if (hit) process.kill(process.pid, "SIGKILL");
}

/** The two points of every step: its action done (`before-record`), and its record saved too (`after-step`). */
export function stepCrashPoint(step: string, when: "before-record" | "after-step"): void {
  crashPoint(`${step}:${when}`);
}
