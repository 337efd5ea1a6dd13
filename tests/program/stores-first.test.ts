// Stores first, the app later or never (issue 31), in the engine's order (the rehearsal's
// engine model, rehearsal/stack/engine.ts) with a provider that records instead of acting:
// each store's window around the source app (fence, move, repoint, serve again), a later
// store's window of its own, a repeated up that runs nothing, the app's own cutover, and
// lowering the flag.
import { describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { pulumiUp, StateFile } from "../../rehearsal/stack/engine";
import { Flags, stackConfig, upTo, withFlags } from "./stacks";
import { Call, index, newState, recordingProvider } from "./recording";

const CA_FILE = "/app/config/rds-global-bundle.pem";
const QUOTAGUARD = { kind: "static-egress", addon: "quotaguard-static", addresses: ["54.173.229.200/32", "54.175.230.252/32"], postgresCaFile: CA_FILE };
const EC2_REDIS = { kind: "ec2", instanceType: "t4g.small", ami: "ami-0123456789abcdef0" };

function patch(raw: Record<string, string>, key: string, edit: (v: Record<string, unknown>) => void): Record<string, string> {
  const value = JSON.parse(raw[key]) as Record<string, unknown>;
  edit(value);
  return { ...raw, [key]: JSON.stringify(value) };
}

/**
 * Story 000's stack: the staging example reaching RDS and Redis on EC2 through a static-IP
 * add-on, without the example's pooler (these windows are the source app's; the pooler's
 * own cutover is tests/components/pooler.test.ts's).
 */
function story000(): Record<string, string> {
  return patch(patch(stackConfig("staging"), "ferry:source", (s) => (s.access = QUOTAGUARD)), "ferry:target", (t) => {
    t.redis = EC2_REDIS;
    delete t.pooler;
  });
}

/** Story 002's stack: Redis only, published (TLS and password), the app never leaves Heroku. */
function story002(): Record<string, string> {
  const raw = patch(story000(), "ferry:source", (s) => {
    delete s.postgres;
    s.access = { kind: "published" };
  });
  delete raw["ferry:sourceDatabaseUrl"];
  return raw;
}

/** The box example keeping its app: its env file rewritten, its units restarted. */
function boxStays(): Record<string, string> {
  return patch(stackConfig("prod"), "ferry:source", (s) => (s.access = { kind: "box", postgresCaFile: "/etc/ssl/rds-global-bundle.pem", envFile: "/home/mastodon/live/.env.production" }));
}

const PG_FIRST: Flags = { ...upTo("cutover", { trafficPercent: 0 }), hold: { app: "provision", redis: "replicate" } };
const REDIS_TOO: Flags = { ...upTo("cutover", { trafficPercent: 0 }), hold: { app: "provision" } };
const APP_AT_PROXY: Flags = { ...upTo("cutover", { trafficPercent: 100 }), hold: { app: "proxy" } };
const EVERYTHING: Flags = upTo("cutover");

/** Every up in `flags` order on one state; `envs` keeps each command step's environment as the provider got it. */
async function ups(raw: () => Record<string, string>, flags: Flags[], p: ReturnType<typeof recordingProvider>, state: StateFile, stack: "staging" | "prod" = "staging") {
  const results = [];
  for (const f of flags) {
    const config = parseConfig(withFlags(raw(), f));
    results.push(await pulumiUp({ project: "ferry", stack, stateFile: state, realizer: p.realizer, program: () => buildFerry(config) }));
  }
  return results;
}

function recorder(refuse: { pattern?: RegExp } = {}) {
  const envs: Record<string, Record<string, unknown>> = {};
  const p = recordingProvider({
    refuse,
    run: async (goal) => {
      envs[goal.name] = (goal.inputs.environment ?? {}) as Record<string, unknown>;
      return undefined;
    },
  });
  return { p, envs };
}

const at = (calls: Call[], re: RegExp, op: Call["op"] = "create") => index(calls, (c) => c.op === op && re.test(c.command ?? ""));
const commands = (calls: Call[]) => calls.filter((c) => c.command !== undefined);
/** A value as the engine model passes it (a secret may come wrapped). */
const text = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

describe("a store cut over while the Heroku app stays (story 000)", { timeout: 240_000 }, () => {
  test("Postgres first: fenced, moved, DATABASE_URL at RDS with verify-full, then the dynos back and maintenance off; no scheduler or Redis step", async () => {
    const { p, envs } = recorder();
    const state = newState();
    await ups(story000, [upTo("provision"), upTo("replicate")], p, state);
    p.calls.length = 0;
    const [cut] = await ups(story000, [PG_FIRST], p, state);
    expect(cut.ok, cut.error).toBe(true);
    const calls = p.calls;
    const maintenanceOn = at(calls, /^ferry --json heroku maintenance on --app masto-web$/);
    const scaledDown = at(calls, /^ferry --json heroku scale --app masto-web web=0 worker=0$/);
    const moved = at(calls, /^ferry --json pg cutover --strategy capture /);
    const verified = at(calls, /^ferry --json pg verify$/);
    const repointed = at(calls, /^ferry --json heroku repoint --app masto-web --var DATABASE_URL --from-env FERRY_TARGET_URL$/);
    const scaledBack = at(calls, /^ferry --json heroku scale --app masto-web web=2 worker=1$/);
    const maintenanceOff = at(calls, /^ferry --json heroku maintenance off --app masto-web$/);
    const order = [maintenanceOn, scaledDown, moved, verified, repointed, scaledBack, maintenanceOff];
    expect(order.every((i) => i > -1), JSON.stringify(order)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // The streaming app too: fenced before the move, back after the repoint.
    expect(at(calls, /^ferry --json heroku scale --app masto-streaming web=0$/)).toBeLessThan(moved);
    expect(at(calls, /^ferry --json heroku scale --app masto-streaming web=1$/)).toBeGreaterThan(repointed);
    // The app stays: its scheduled jobs stay on Heroku, Redis is not touched.
    expect(commands(calls).some((c) => /heroku scheduler off|redis cutover|--var REDIS_URL|ferry --json cutover /.test(c.command!))).toBe(false);
    // DATABASE_URL is RDS as the dynos reach it: verify-full against the bundle the app carries.
    const url = new URL(text(envs["ferry-cutover-pg-config"].FERRY_TARGET_URL).replace(/^"|"$/g, ""));
    expect(url.searchParams.get("sslmode")).toBe("verify-full");
    expect(url.searchParams.get("sslrootcert")).toBe(CA_FILE);
  });

  test("a repeated up changes nothing; Redis later gets a window of its own; the app's cutover stops Heroku for good, after it served again", async () => {
    const { p, envs } = recorder();
    const state = newState();
    await ups(story000, [upTo("provision"), upTo("replicate"), PG_FIRST], p, state);
    p.calls.length = 0;
    const [again] = await ups(story000, [PG_FIRST], p, state);
    expect(again.ok, again.error).toBe(true);
    expect(commands(p.calls)).toEqual([]);

    const [redis] = await ups(story000, [REDIS_TOO], p, state);
    expect(redis.ok, redis.error).toBe(true);
    const fenced = at(p.calls, /^ferry --json heroku scale --app masto-web web=0 worker=0$/);
    const moved = at(p.calls, /^ferry --json cutover /);
    const repointed = at(p.calls, /^ferry --json heroku repoint --app masto-web --var REDIS_URL --from-env FERRY_TARGET_REDIS_URL$/);
    const back = at(p.calls, /^ferry --json heroku maintenance off --app masto-web$/);
    expect([fenced, moved, repointed, back].every((i) => i > -1)).toBe(true);
    expect(fenced).toBeLessThan(moved);
    expect(moved).toBeLessThan(repointed);
    expect(repointed).toBeLessThan(back);
    // Postgres's window is history: its repoint does not run again.
    expect(at(p.calls, /--var DATABASE_URL/)).toBe(-1);
    expect(text(envs["ferry-cutover-redis-config"].FERRY_TARGET_REDIS_URL)).toMatch(/rediss:\/\/:[^@]+@ec2-198-51-100-7\.compute-1\.amazonaws\.com:6380\/0/);

    p.calls.length = 0;
    const [proxy] = await ups(story000, [APP_AT_PROXY], p, state);
    expect(proxy.ok, proxy.error).toBe(true);
    expect(commands(p.calls).some((c) => /heroku (maintenance|scale|scheduler)/.test(c.command!))).toBe(false);

    p.calls.length = 0;
    const [app] = await ups(story000, [EVERYTHING], p, state);
    expect(app.ok, app.error).toBe(true);
    const stop = at(p.calls, /^ferry --json heroku maintenance on --app masto-web$/);
    expect(stop).toBeGreaterThan(-1);
    expect(at(p.calls, /^ferry --json heroku scale --app masto-web web=0 worker=0$/)).toBeGreaterThan(stop);
    expect(at(p.calls, /^ferry --json heroku scheduler off --app masto-web$/)).toBeGreaterThan(-1);
    // No window runs again, no store moves again, nothing is deleted.
    expect(commands(p.calls).some((c) => /maintenance off|repoint|cutover|web=2/.test(c.command!))).toBe(false);
    expect(commands(p.calls).filter((c) => c.op === "delete")).toEqual([]);
  });

  test("lowering ferry:cutover after the target took writes: refused by the guard, the app still served from RDS", async () => {
    const refuse: { pattern?: RegExp } = {};
    const { p } = recorder(refuse);
    const state = newState();
    await ups(story000, [upTo("provision"), upTo("replicate"), PG_FIRST], p, state);
    refuse.pattern = /pg rollback --check/;
    p.calls.length = 0;
    const [back] = await ups(story000, [upTo("replicate")], p, state);
    expect(back.ok).toBe(false);
    expect(back.error).toMatch(/ferry-replicate-pg-guard/);
    expect(p.calls.filter((c) => c.op === "delete")).toEqual([]);
    expect(commands(p.calls).some((c) => /maintenance on|web=0|--to-addon|pg rollback --strategy/.test(c.command!))).toBe(false);
  });

  test("lowering ferry:cutover where the guard allows: fenced again, config back to the add-on, the store's rollback, then the dynos as they were", async () => {
    const { p } = recorder();
    const state = newState();
    await ups(story000, [upTo("provision"), upTo("replicate"), PG_FIRST], p, state);
    p.calls.length = 0;
    const [back] = await ups(story000, [upTo("replicate")], p, state);
    expect(back.ok, back.error).toBe(true);
    const deleted = (re: RegExp) => at(p.calls, re, "delete");
    const order = [
      deleted(/^ferry --json heroku maintenance on --app masto-web$/),
      deleted(/^ferry --json heroku scale --app masto-web web=0 worker=0$/),
      deleted(/^ferry --json heroku repoint --app masto-web --var DATABASE_URL --to-addon postgresql-curved-12345$/),
      deleted(/^ferry --json pg rollback --strategy capture$/),
      deleted(/^ferry --json heroku scale --app masto-web web=2 worker=1$/),
      deleted(/^ferry --json heroku maintenance off --app masto-web$/),
    ];
    expect(order.every((i) => i > -1), JSON.stringify(order)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});

describe("Redis only, the app never leaves Heroku (story 002)", { timeout: 240_000 }, () => {
  test("REDIS_URL at Redis on EC2's TLS port, the dynos back after it; the add-on that moved is the only one released", async () => {
    const { p, envs } = recorder();
    const state = newState();
    const stay = { ...upTo("cutover", { trafficPercent: 0 }), hold: { app: "provision" } };
    await ups(story002, [upTo("provision"), upTo("replicate")], p, state);
    p.calls.length = 0;
    const [cut] = await ups(story002, [stay], p, state);
    expect(cut.ok, cut.error).toBe(true);
    const moved = at(p.calls, /^ferry --json redis cutover /);
    const repointed = at(p.calls, /^ferry --json heroku repoint --app masto-web --var REDIS_URL --from-env FERRY_TARGET_REDIS_URL$/);
    const back = at(p.calls, /^ferry --json heroku maintenance off --app masto-web$/);
    expect(at(p.calls, /^ferry --json heroku scale --app masto-web web=0 worker=0$/)).toBeLessThan(moved);
    expect(moved).toBeGreaterThan(-1);
    expect(moved).toBeLessThan(repointed);
    expect(repointed).toBeLessThan(back);
    expect(text(envs["ferry-cutover-redis-config"].FERRY_TARGET_REDIS_URL)).toMatch(/^"?rediss:\/\/.*:6380\/0"?$/);

    p.calls.length = 0;
    const [done] = await ups(story002, [{ ...upTo("decommission", { trafficPercent: 0 }), hold: { app: "provision" } }], p, state);
    expect(done.ok, done.error).toBe(true);
    const released = commands(p.calls).filter((c) => /heroku destroy-addon/.test(c.command!)).map((c) => c.command);
    expect(released).toEqual(["ferry --json heroku destroy-addon --app masto-web --addon redis-rigid-67890 --confirm masto-web"]);
    expect(commands(p.calls).some((c) => /maintenance on|web=0/.test(c.command!))).toBe(false);
  });
});

describe("a box's stores cut over while its app stays", { timeout: 240_000 }, () => {
  test("units stopped, both stores moved, each env file var set and the units restarted; lowering stops them and writes the old lines back before the rollbacks", async () => {
    const { p, envs } = recorder();
    const state = newState();
    const stay = { ...upTo("cutover", { trafficPercent: 0 }), hold: { app: "provision" } };
    await ups(boxStays, [upTo("provision"), upTo("replicate")], p, state, "prod");
    p.calls.length = 0;
    const [cut] = await ups(boxStays, [stay], p, state, "prod");
    expect(cut.ok, cut.error).toBe(true);
    const stopped = at(p.calls, /^ferry --json box units stop /);
    const moved = at(p.calls, /^ferry --json cutover /);
    const env = (v: string) => at(p.calls, new RegExp(`^ferry --json box repoint --host \\S+ --ssh-key-env FERRY_SSH_KEY --host-key '[^']+' --env-file /home/mastodon/live/.env.production --var ${v} --from-env FERRY_TARGET(_REDIS)?_URL --unit mastodon-web --unit mastodon-sidekiq --unit mastodon-streaming$`));
    expect(stopped).toBeGreaterThan(-1);
    expect(stopped).toBeLessThan(moved);
    expect(env("DATABASE_URL")).toBeGreaterThan(moved);
    expect(env("REDIS_URL")).toBeGreaterThan(moved);
    expect(commands(p.calls).some((c) => /box crontab off|box units start/.test(c.command!))).toBe(false);
    expect(text(envs["ferry-cutover-pg-env"].FERRY_TARGET_URL)).toMatch(/sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Frds-global-bundle\.pem/);

    p.calls.length = 0;
    const [back] = await ups(boxStays, [upTo("replicate")], p, state, "prod");
    expect(back.ok, back.error).toBe(true);
    const restored = at(p.calls, /^ferry --json box repoint .* --var DATABASE_URL --restore /, "delete");
    const rolledBack = at(p.calls, /^ferry --json pg rollback --strategy logical$/, "delete");
    const started = at(p.calls, /^ferry --json box units start /, "delete");
    expect(restored).toBeGreaterThan(-1);
    expect(restored).toBeLessThan(rolledBack);
    expect(rolledBack).toBeLessThan(started);
  });
});

describe("an internet way in added or removed on a running stack", { timeout: 240_000 }, () => {
  const isRedisInstance = (c: Call) => c.type === "aws:ec2/instance:Instance" && /-redis-redis$/.test(c.name);

  test("once Redis on EC2 holds data, removing it is refused by the guard before the instance is replaced; at provision it goes through", async () => {
    const withoutAccess = () => patch(story000(), "ferry:source", (s) => delete s.access);
    // The guard's commands run in a real shell, as the Command provider runs them.
    const p = recordingProvider({
      run: async (goal, phase) => {
        if (!goal.name.endsWith("-exposure")) return undefined;
        const ran = spawnSync("sh", ["-c", String(goal.inputs[phase])], { encoding: "utf8" });
        if (ran.status !== 0) throw new Error(`${goal.name}: ${ran.stderr.trim()}`);
        return ran.stdout;
      },
    });
    const state = newState();
    await ups(story000, [upTo("provision")], p, state);
    p.calls.length = 0;
    // At provision Redis holds nothing: the instance moves to the private subnet (the
    // model's provider updates it where AWS's replaces it).
    const [early] = await ups(withoutAccess, [upTo("provision")], p, state);
    expect(early.ok, early.error).toBe(true);
    expect(p.calls.some((c) => c.op !== "delete" && isRedisInstance(c))).toBe(true);

    await ups(story000, [upTo("provision"), upTo("replicate")], p, state);
    p.calls.length = 0;
    const [late] = await ups(withoutAccess, [upTo("replicate")], p, state);
    expect(late.ok).toBe(false);
    expect(late.error).toMatch(/-redis-exposure: ferry:source\.access: removing the internet way in would replace Redis on EC2 /);
    expect(p.calls.some((c) => isRedisInstance(c))).toBe(false);
  });
});
