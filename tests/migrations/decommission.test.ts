// decommission's final backup, through the program in the engine's order (the rehearsal's
// engine model, with a provider that records instead of acting): every release of a
// source store waits for that store's backup, a failed backup releases nothing, a later
// `pulumi up` does not take the backup again (not even with the source's credentials
// rotated), and the backup's command line, which Pulumi stores in state, names no secret.
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { plainStored, pulumiUp, StateFile } from "../../rehearsal/stack/engine";
import { FAKE_SECRETS, SECRET_MARK, stackConfig, upTo, withFlags } from "../program/stacks";
import { index, newState, recordingProvider } from "../program/recording";

type StageName = "provision" | "replicate" | "proxy" | "cutover" | "decommission";

async function journey(stack: "staging" | "prod", stages: StageName[], provider: ReturnType<typeof recordingProvider>, state: StateFile, secrets: Record<string, string> = {}) {
  const results = [];
  for (const stage of stages) {
    const config = parseConfig({ ...withFlags(stackConfig(stack), upTo(stage, stage === "proxy" ? { trafficPercent: 100 } : {})), ...secrets });
    results.push(await pulumiUp({ project: "ferry", stack, stateFile: state, realizer: provider.realizer, program: () => buildFerry(config) }));
  }
  return results;
}

const ALL: StageName[] = ["provision", "replicate", "proxy", "cutover", "decommission"];
const BACKUP = /^ferry --json (pg|redis) backup /;

describe("decommission: the final backup before anything is released", { timeout: 480_000 }, () => {
  test("heroku: each add-on is destroyed only after its store's backup; a second up takes no backup again", async () => {
    const p = recordingProvider();
    const state = newState();
    const results = await journey("staging", ALL, p, state);
    expect(results.map((r) => r.error ?? "ok")).toEqual(ALL.map(() => "ok"));
    const backupOf = (store: "pg" | "redis") => index(p.calls, (c) => c.op === "create" && new RegExp(`^ferry --json ${store} backup `).test(c.command ?? ""));
    const destroyOf = (addon: string) => index(p.calls, (c) => c.op === "create" && new RegExp(`heroku destroy-addon --app \\S+ --addon ${addon} `).test(c.command ?? ""));
    for (const [store, addon] of [["pg", "postgresql-curved-12345"], ["redis", "redis-rigid-67890"]] as const) {
      expect(backupOf(store), store).toBeGreaterThan(-1);
      expect(destroyOf(addon), addon).toBeGreaterThan(backupOf(store));
    }
    // The command lines hold names only: the bucket, the key under final-backup/, the region.
    const lines = p.calls.filter((c) => BACKUP.test(c.command ?? "")).map((c) => c.command).sort();
    expect(lines).toEqual([
      "ferry --json pg backup --bucket ferry-storage-bucket-bucket --key final-backup/postgres.pgdump --region us-east-1",
      "ferry --json redis backup --bucket ferry-storage-bucket-bucket --key final-backup/redis.ferry-backup --region us-east-1 --tls-insecure",
    ]);
    // Where the source is reaches the step in its environment (the Heroku add-on, read when
    // the step runs; the key secret in the state), never its command line, and never the
    // URL the stack keeps for the app (it may be stale: Heroku rotates credentials).
    const stored = state.read().resources.find((r) => r.name === "ferry-decommission-postgres-backup")!;
    expect(String(stored.inputs.create)).not.toContain(SECRET_MARK);
    const environment = plainStored(stored).inputs.environment as Record<string, string>;
    expect(Object.keys(environment).sort()).toEqual(["FERRY_SOURCE_HEROKU_ADDON", "FERRY_SOURCE_HEROKU_APP", "HEROKU_API_KEY"]);
    expect(environment.HEROKU_API_KEY).toBe(FAKE_SECRETS["ferry:herokuApiKey"]);
    expect(readFileSync(state.path, "utf8")).not.toContain(FAKE_SECRETS["ferry:herokuApiKey"]);

    // The step's environment changed since (a new Heroku key): the backup, already taken, is not taken again.
    p.calls.length = 0;
    const rotated = { "ferry:herokuApiKey": "heroku-key-rotated-SECRET-0009" };
    const [again] = await journey("staging", ["decommission"], p, state, rotated);
    expect(again.ok, again.error).toBe(true);
    expect(p.calls.filter((c) => BACKUP.test(c.command ?? ""))).toEqual([]);
    // Nor is capture's cleanup run again: after the release there is no source to clean.
    expect(p.calls.filter((c) => /^ferry --json pg cleanup$/.test(c.command ?? ""))).toEqual([]);
  });

  test("heroku capture: the triggers and change log leave the source behind the fence the gate found, before its backup", async () => {
    const p = recordingProvider();
    const results = await journey("staging", ALL, p, newState());
    expect(results.map((r) => r.error ?? "ok")).toEqual(ALL.map(() => "ok"));
    const created = (re: RegExp) => index(p.calls, (c) => c.op === "create" && re.test(c.command ?? ""));
    const gate = created(/^ferry --json pg status --require-cutover$/);
    const cleanup = created(/^ferry --json pg cleanup$/);
    expect(gate).toBeGreaterThan(-1);
    expect(cleanup).toBeGreaterThan(gate);
    expect(created(/^ferry --json pg backup /)).toBeGreaterThan(cleanup);
  });

  test("heroku: a failed backup releases nothing", async () => {
    const p = recordingProvider({ refuse: { pattern: /^ferry --json pg backup / } });
    const state = newState();
    const results = await journey("staging", ALL, p, state);
    expect(results.slice(0, 4).every((r) => r.ok)).toBe(true);
    expect(results[4].ok).toBe(false);
    expect(results[4].error).toMatch(/ferry-decommission-postgres-backup/);
    expect(p.calls.filter((c) => /heroku destroy-addon .*--addon postgresql-/.test(c.command ?? ""))).toEqual([]);
  });

  test("box: the publication and slot are dropped only after the Postgres backup; Redis is backed up too", async () => {
    const p = recordingProvider();
    const results = await journey("prod", ALL, p, newState());
    expect(results.map((r) => r.error ?? "ok")).toEqual(ALL.map(() => "ok"));
    const backup = index(p.calls, (c) => /^ferry --json pg backup --bucket \S+ --key final-backup\/postgres\.pgdump --region \S+$/.test(c.command ?? ""));
    const cleanup = index(p.calls, (c) => c.name === "ferry-decommission-pg-cleanup");
    expect(backup).toBeGreaterThan(-1);
    expect(cleanup).toBeGreaterThan(backup);
    expect(index(p.calls, (c) => /^ferry --json redis backup --bucket \S+ --key final-backup\/redis\.ferry-backup --region \S+$/.test(c.command ?? ""))).toBeGreaterThan(-1);
    // Each backup behind its store's gate, as on Heroku.
    for (const store of ["pg", "redis"]) {
      const gate = index(p.calls, (c) => new RegExp(`^ferry --json ${store} status --require-cutover`).test(c.command ?? "") && /decommission/.test(c.name));
      expect(gate, store).toBeGreaterThan(-1);
      expect(index(p.calls, (c) => new RegExp(`^ferry --json ${store} backup `).test(c.command ?? "")), store).toBeGreaterThan(gate);
    }
  });

  test.each([
    ["pg", /^ferry --json pg backup |^ferry --json pg cleanup/],
    ["redis", /^ferry --json redis backup /],
  ])("box: while %s status --require-cutover refuses (the cutover is not done, or the source no longer fenced), that store is neither backed up nor cleaned up", async (store, held) => {
    const state = newState();
    const before = await journey("prod", ALL.slice(0, 4), recordingProvider(), state);
    expect(before.map((r) => r.error ?? "ok")).toEqual(["ok", "ok", "ok", "ok"]);
    const p = recordingProvider({ refuse: { pattern: new RegExp(`^ferry --json ${store} status --require-cutover`) } });
    const [result] = await journey("prod", ["decommission"], p, state);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(new RegExp(`ferry-decommission-${store === "pg" ? "postgres" : "redis"}-cutover-done`));
    expect(p.calls.filter((c) => held.test(c.command ?? "")).map((c) => c.name)).toEqual([]);
  });
});
