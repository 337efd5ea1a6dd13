import { describe, expect, it } from "vitest";
import { validateSourceProtected } from "../../policy/source-protected";
import { UNKNOWN_STRING, stackArgs, stackResource, violations } from "./args";
import { flagsUpTo, herokuConfig, vultrConfig, writeStackFile } from "./stacks";

const box = (protect: boolean) => stackResource("vultr:index/instance:Instance", "source-instance", { mainIp: "198.51.100.20" }, { protect });
const command = (name: string, create: string) => stackResource("command:local:Command", name, { create });
const ADDON_DESTROY = "ferry --json heroku destroy-addon --app mastodon-web --addon postgresql-curved-12345 --confirm mastodon-web";
const PG_BACKUP = "ferry --json pg backup --bucket ferry-storage-bucket-0a1b2c3 --key final-backup/postgres.pgdump --region us-east-1";
const REDIS_BACKUP = "ferry --json redis backup --bucket ferry-storage-bucket-0a1b2c3 --key final-backup/redis.ferry-backup --region us-east-1 --tls-insecure";
/** `resource`, depending on `dependencies` as the engine lists them. */
const after = (resource: ReturnType<typeof stackResource>, ...dependencies: ReturnType<typeof stackResource>[]) => ({ ...resource, dependencies });

function check(config: Record<string, unknown>, resources: ReturnType<typeof stackResource>[]): string[] {
  const stackFile = writeStackFile(config);
  return violations((report) => validateSourceProtected(stackArgs(resources, { stackFile }), report));
}

describe("ferry-source-protected", () => {
  it("passes a protected source box through cutover and an unprotected one at decommission", () => {
    expect(check(vultrConfig(flagsUpTo("cutover")), [box(true)])).toEqual([]);
    expect(check(vultrConfig(flagsUpTo("decommission")), [box(false)])).toEqual([]);
  });

  it("passes the box read by ferry:source:VultrBox without protect, as a real preview hands it over", () => {
    // The engine does not record protect on a `.get`: the read box arrives unprotected.
    const reader = stackResource("ferry:source:VultrBox", "source", {});
    const read = { ...box(false), parent: reader };
    expect(check(vultrConfig(flagsUpTo("provision")), [reader, read])).toEqual([]);
    expect(check(vultrConfig(flagsUpTo("cutover")), [reader, read])).toEqual([]);
  });

  it("fails an unprotected source box before decommission", () => {
    expect(check(vultrConfig(flagsUpTo("cutover")), [box(false)])).toEqual([
      expect.stringMatching(/vultr:index\/instance:Instance source-instance holds source data and must be protected until postgres and redis reach decommission/),
    ]);
  });

  it("fails while one store is held back from decommission", () => {
    const flags = { ...flagsUpTo("decommission"), hold: { redis: "cutover" } };
    expect(check(vultrConfig(flags), [box(false)])).toHaveLength(1);
  });

  it("passes destroying commands at decommission after their store's final backup, fails them earlier", () => {
    const backup = command("decommission-postgres-backup", PG_BACKUP);
    const cleanup = after(command("decommission-pg-cleanup", "ferry --json pg cleanup"), backup);
    const destroy = after(command("decommission-postgres-addon", ADDON_DESTROY), backup);
    expect(check(vultrConfig(flagsUpTo("decommission")), [box(false), cleanup])).toEqual([]);
    expect(check(herokuConfig(flagsUpTo("decommission")), [destroy])).toEqual([]);
    expect(check(herokuConfig(flagsUpTo("cutover")), [destroy, command("cutover-pg", "ferry --json pg cutover --strategy dump")])).toEqual([
      expect.stringMatching(/decommission-postgres-addon destroys the source postgres .* while postgres is at cutover; only allowed at decommission/),
    ]);
    expect(check(vultrConfig(flagsUpTo("cutover")), [box(true), cleanup])).toEqual([expect.stringMatching(/destroys the source postgres/)]);
  });

  it("passes a Heroku source's pg cleanup before its backup: capture's triggers and log are ferry's, not the app's data", () => {
    const gate = command("decommission-postgres-cutover-done", "ferry --json pg status --require-cutover");
    const cleanup = after(command("decommission-pg-cleanup", "ferry --json pg cleanup"), gate);
    const backup = after(command("decommission-postgres-backup", PG_BACKUP), gate, cleanup);
    expect(check(herokuConfig(flagsUpTo("decommission")), [gate, cleanup, backup, after(command("decommission-postgres-addon", ADDON_DESTROY), gate, backup)])).toEqual([]);
    // The box's cleanup drops its publication and slot: still held to the backup.
    expect(check(vultrConfig(flagsUpTo("decommission")), [box(false), cleanup])).toEqual([expect.stringMatching(/decommission-pg-cleanup destroys the source postgres .* without depending on its final backup/)]);
  });

  it("fails a release at decommission that does not depend on its own store's final backup", () => {
    const redisBackup = command("decommission-redis-backup", REDIS_BACKUP);
    for (const destroy of [command("decommission-postgres-addon", ADDON_DESTROY), after(command("decommission-postgres-addon", ADDON_DESTROY), redisBackup)]) {
      expect(check(herokuConfig(flagsUpTo("decommission")), [redisBackup, destroy])).toEqual([
        expect.stringMatching(/^.*decommission-postgres-addon destroys the source postgres \(`ferry --json heroku destroy-addon .*`\) without depending on its final backup \(`ferry pg backup`\): no backup, no release/),
      ]);
    }
    expect(check(vultrConfig(flagsUpTo("decommission")), [box(false), command("decommission-pg-cleanup", "ferry --json pg cleanup")])).toEqual([expect.stringMatching(/without depending on its final backup/)]);
  });

  it("recognises the backup by its name while its command line is unknown (the bucket not created yet)", () => {
    const unknown = (name: string) => command(name, UNKNOWN_STRING);
    const destroy = (backup: ReturnType<typeof stackResource>) => after(command("decommission-postgres-addon", ADDON_DESTROY), backup);
    expect(check(herokuConfig(flagsUpTo("decommission")), [destroy(unknown("ferry-decommission-postgres-backup"))])).toEqual([]);
    expect(check(herokuConfig(flagsUpTo("decommission")), [destroy(unknown("ferry-decommission-redis-backup"))])).toEqual([expect.stringMatching(/without depending on its final backup/)]);
  });

  it("fails safe when the stack config cannot be read", () => {
    const found = violations((report) => validateSourceProtected(stackArgs([box(true)], { stackFile: "/nonexistent/Pulumi.x.yaml" }), report));
    expect(found).toEqual([expect.stringMatching(/cannot read the ferry stack config/)]);
  });
});
