// Bad input to `ferry cutover` / `ferry status`: one line naming the flag or variable,
// exit 2, before any server is asked anything (the URLs point nowhere that answers).
// Its options are `ferry pg`'s and `ferry redis`'s, one name per thing: a per-store cutover
// command line is a `ferry cutover` one, and each old name is refused with its new one.
import { describe, expect, test } from "vitest";
import * as contract from "../../../dataplane/cli/contract";
import { buildProgram } from "../../../dataplane/cli/main";
import { runFerry } from "../postgres/helpers";

const PG = { source: "postgresql://app@127.0.0.1:1/db", target: "postgresql://app@127.0.0.1:1/db" };
const REDIS = { source: "redis://127.0.0.1:1/0", target: "redis://127.0.0.1:1/0" };
const NOWHERE = {
  FERRY_SOURCE_URL: PG.source, FERRY_TARGET_URL: PG.target,
  FERRY_SOURCE_REDIS_URL: REDIS.source, FERRY_TARGET_REDIS_URL: REDIS.target,
};
const NO_URLS = { FERRY_SOURCE_URL: "", FERRY_TARGET_URL: "", FERRY_SOURCE_REDIS_URL: "", FERRY_TARGET_REDIS_URL: "" };
const PG_ONLY = { ...NO_URLS, FERRY_SOURCE_URL: PG.source, FERRY_TARGET_URL: PG.target };

/** One line on stderr, nothing on stdout, exit 2. */
async function refused(args: string[], env: Record<string, string>): Promise<string> {
  const run = await runFerry(args, env);
  expect(run.code, run.stderr).toBe(2);
  expect(run.stderr.trim().split("\n")).toHaveLength(1);
  expect(run.stdout).toBe("");
  return run.stderr.trim();
}

describe("ferry cutover: bad input", () => {
  test.each([
    [["cutover"], NO_URLS, /^ferry: no store to move: set FERRY_SOURCE_URL\/FERRY_TARGET_URL and\/or FERRY_SOURCE_REDIS_URL\/FERRY_TARGET_REDIS_URL$/],
    [["status"], NO_URLS, /^ferry: no store to move: /],
    [["cutover"], { ...NO_URLS, FERRY_SOURCE_REDIS_URL: REDIS.source }, /^ferry: missing --target: the Redis source is given but not its target \(set FERRY_TARGET_REDIS_URL\)$/],
    [["cutover", "--source", REDIS.source], NO_URLS, /^ferry: missing --target: the Redis source is given but not its target \(set FERRY_TARGET_REDIS_URL\)$/],
    [["cutover", "--strategy", "copy"], PG_ONLY, /^ferry: --strategy copy needs the Redis URLs \(FERRY_TARGET_REDIS_URL\)$/],
    [["cutover", "--strategy", "sideways"], NOWHERE, /^ferry: --strategy must be one of physical, logical, dump, capture \(Postgres\) or replicaof, copy \(Redis\) \(got "sideways"\)$/],
    [["cutover", "--strategy", "logical", "--strategy", "dump"], NOWHERE, /^ferry: --strategy given twice for Postgres \(logical, dump\): one per store$/],
    [["cutover", "--target", PG.target, "--target", "postgres://other@127.0.0.1:1/db"], NOWHERE, /^ferry: --target given twice for Postgres: one Postgres URL per side$/],
    [["cutover", "--source", "ftp://u:pw-secret@example.com/x"], NOWHERE, /^ferry: --source takes a postgresql:\/\/ or redis\(s\):\/\/ URL \(got ftp:\/\/\)$/],
    [["cutover", "--max-lag-bytes", "-1"], NOWHERE, /^ferry: --max-lag-bytes must be an integer >= 0 \(got "-1"\)$/],
  ] as [string[], Record<string, string>, RegExp][])("%j", async (args, env, error) => {
    expect(await refused(args, env)).toMatch(error);
  });

  test("--source and --target go to the store their URL's scheme names", async () => {
    // Given as flags only: the Postgres pair moves Postgres (so a Redis strategy lacks its
    // URLs), the Redis pair moves Redis (so a Postgres strategy lacks its).
    const pgFlags = ["--source", PG.source, "--target", PG.target];
    const redisFlags = ["--source", REDIS.source, "--target", REDIS.target];
    expect(await refused(["cutover", ...pgFlags, "--strategy", "copy"], NO_URLS)).toBe("ferry: --strategy copy needs the Redis URLs (FERRY_TARGET_REDIS_URL)");
    expect(await refused(["cutover", ...redisFlags, "--strategy", "logical"], NO_URLS)).toBe("ferry: --strategy logical needs the Postgres URLs (FERRY_TARGET_URL)");
    expect(await refused(["status", ...redisFlags, "--source", "rediss://127.0.0.1:1/0"], NO_URLS)).toBe("ferry: --source given twice for Redis: one Redis URL per side");
  });
});

describe("one name per thing", () => {
  test.each([
    [["cutover", "--pg-source", PG.source], "--pg-source", "--source"],
    [["cutover", "--pg-target", PG.target], "--pg-target", "--target"],
    [["cutover", "--redis-source", REDIS.source], "--redis-source", "--source"],
    [["cutover", "--redis-target", REDIS.target], "--redis-target", "--target"],
    [["status", "--pg-source", PG.source], "--pg-source", "--source"],
    [["status", "--redis-target", REDIS.target], "--redis-target", "--target"],
    [["cutover", "--mode", "copy"], "--mode", "--strategy"],
    [["redis", "preflight", "--mode", "copy"], "--mode", "--strategy"],
    [["redis", "replicate", "--mode", "copy"], "--mode", "--strategy"],
    [["redis", "cutover", "--mode", "replicaof"], "--mode", "--strategy"],
    // The value after = is a URL: only the name is echoed.
    [["cutover", "--pg-source=postgres://u:pw-secret@127.0.0.1:1/db"], "--pg-source", "--source"],
  ])("%j: the old name is refused with its new one", async (args, old, now) => {
    const line = await refused(args, NOWHERE);
    expect(line).toBe(`ferry: unknown option '${old}': it is now ${now}`);
  });

  /** The options the real parser gives `argv`'s command, stopping before its action. */
  async function optionsOf(argv: string[]): Promise<{ path: string; opts: Record<string, unknown> }> {
    const program = buildProgram();
    program.configureOutput({ writeErr: () => {}, outputError: () => {} });
    let seen: { path: string; opts: Record<string, unknown> } | undefined;
    program.hook("preAction", (_root, command) => {
      seen = { path: command.name(), opts: command.opts() };
      throw new Error("parsed");
    });
    await program.parseAsync(argv, { from: "user" }).catch((e: Error) => {
      if (!seen) throw e;
    });
    return seen!;
  }

  test("a ferry pg cutover or ferry redis cutover command line is a ferry cutover one, meaning the same", async () => {
    const urls = (u: { source: string; target: string }) => ["--source", u.source, "--target", u.target];
    const pgWords = contract.pg.cutover("logical", 1024, 30, { providerSuperusers: true }).argv.slice(1);
    const redisWords = contract.redis(true).cutover("copy", "dynos-stopped").argv.slice(1);
    expect(pgWords.slice(1, 3)).toEqual(["pg", "cutover"]);
    expect(redisWords.slice(1, 3)).toEqual(["redis", "cutover"]);
    const pg = await optionsOf(["--json", "cutover", ...pgWords.slice(3), ...urls(PG)]);
    expect(pg.path).toBe("cutover");
    expect(pg.opts).toMatchObject({ strategy: ["logical"], maxLagBytes: "1024", timeout: "30", providerSuperusers: true, source: [PG.source], target: [PG.target] });
    const redis = await optionsOf(["--json", "cutover", ...redisWords.slice(3), ...urls(REDIS)]);
    expect(redis.opts).toMatchObject({ strategy: ["copy"], fence: "dynos-stopped", tlsInsecure: true, source: [REDIS.source], target: [REDIS.target] });
    // Both stores at once, as the stage runs it.
    const both = contract.stack(false).cutover({ strategy: "dump", mode: "replicaof", fence: "acl", maxLagBytes: 0, timeoutSeconds: 60, drainSidekiq: false }).argv.slice(1);
    expect((await optionsOf(both)).opts).toMatchObject({ strategy: ["dump", "replicaof"] });
  });
});
