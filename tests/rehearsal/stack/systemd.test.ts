// The box's systemd (the rehearsal's stand-in): systemctl's verbs as systemctl(1) gives
// them, and `ferry box repoint --unit` over real SSH restarting a real unit process, which
// comes back reading the env file ferry rewrote (a unit reads its environment at start).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { tempDir } from "../../../rehearsal/servers";
import { startSshd, LocalSshd } from "../../../rehearsal/servers/sshd";
import { Fleet, FleetSpec } from "../../../rehearsal/stack/standins/fleet";
import { Systemd, unitAction } from "../../../rehearsal/stack/standins/systemd";
import { runFerry } from "../../dataplane/traffic/run-ferry";
import { eventually } from "../../support/eventually";

describe("systemctl's verbs (systemctl(1))", () => {
  test("restart starts a unit that is not running; enable and disable start or stop only with --now", () => {
    expect(unitAction(["restart", "a"])).toBe("restart");
    expect(unitAction(["start", "a"])).toBe("start");
    expect(unitAction(["stop", "a"])).toBe("stop");
    expect(unitAction(["enable", "a"])).toBe("none");
    expect(unitAction(["enable", "--now", "a"])).toBe("start");
    expect(unitAction(["disable", "a"])).toBe("none");
    expect(unitAction(["disable", "--now", "a"])).toBe("stop");
    expect(unitAction(["daemon-reload"])).toBeUndefined();
  });
});

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("ferry box repoint restarting the box's unit over SSH", { timeout: 60_000 }, () => {
  const dir = tempDir("systemd-box");
  const envFile = join(dir, ".env.production");
  // Drawn per run: no credential lives in the source.
  const target = `postgres://app:${randomBytes(8).toString("hex")}@db.example.rds.amazonaws.com:5432/app?sslmode=verify-full`;
  let sshd: LocalSshd;
  let systemd: Systemd;
  let fleet: Fleet;

  // The unit prints a digest of the DATABASE_URL it started with (never the value), then runs on.
  const spec = (): FleetSpec => ({
    name: "mastodon-web",
    platform: "box",
    http: false,
    env: parseEnv(readFileSync(envFile, "utf8")) as Record<string, string>,
    launch: { kind: "unit", appDir: dir, command: `printf '%s' "$DATABASE_URL" | sha256sum | cut -c1-64; exec sleep 60` },
  });
  const log = () => readFileSync(join(dir, "mastodon-web.log"), "utf8");

  beforeAll(async () => {
    writeFileSync(envFile, "DATABASE_URL=postgres://mastodon@localhost/mastodon_production\n");
    fleet = new Fleet(spec(), { logsDir: dir, schema: "public", machineEnv: {}, log: () => undefined, changed: async () => undefined });
    systemd = new Systemd(new Map([["mastodon-web", fleet]]), spec);
    await systemd.start("mastodon-web");
    const bin = tempDir("systemd-bin");
    await systemd.serve(bin);
    sshd = await startSshd({ config: [`SetEnv PATH=${bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`] });
  });

  afterAll(async () => {
    sshd?.stop();
    systemd?.close();
    await fleet?.stop();
  });

  const repoint = (extra: string[], env: NodeJS.ProcessEnv = {}) =>
    runFerry(["--json", "box", "repoint", "--host", `${sshd.user}@127.0.0.1:${sshd.port}`, "--ssh-key-env", "FERRY_TEST_SSH_KEY", "--host-key", sshd.hostKey, "--env-file", envFile, "--var", "DATABASE_URL", "--unit", "mastodon-web", ...extra], { FERRY_TEST_SSH_KEY: sshd.clientKey, ...env });

  test("the unit is restarted and runs on the new value; the way back stops it and puts the old line back", async () => {
    await eventually("the unit's first process to start", () => log().includes(`mastodon-web.1: ${sha("postgres://mastodon@localhost/mastodon_production")}`));
    const r = await repoint(["--from-env", "FERRY_TARGET_URL"], { FERRY_TARGET_URL: target });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ action: "set", restarted: ["mastodon-web"] });
    await eventually("the restarted unit to run on the target's URL", () => log().includes(`mastodon-web.2: ${sha(target)}`));
    expect(fleet.size()).toBe(1);

    const back = await repoint(["--restore"]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.json()).toMatchObject({ action: "restored", stopped: ["mastodon-web"] });
    expect(fleet.size()).toBe(0);
    expect(parseEnv(readFileSync(envFile, "utf8")).DATABASE_URL).toBe("postgres://mastodon@localhost/mastodon_production");
  });

  test("a unit the box does not have: systemctl's own message, and ferry says which step failed", async () => {
    const r = await runFerry(["box", "repoint", "--host", `${sshd.user}@127.0.0.1:${sshd.port}`, "--ssh-key-env", "FERRY_TEST_SSH_KEY", "--host-key", sshd.hostKey, "--env-file", envFile, "--var", "REDIS_URL", "--unit", "mastodon-nothing", "--from-env", "V"], { FERRY_TEST_SSH_KEY: sshd.clientKey, V: "rediss://h:6380/0" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/systemctl restart on .*Unit mastodon-nothing\.service not found/);
  });
});
