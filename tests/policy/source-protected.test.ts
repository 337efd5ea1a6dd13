import { describe, expect, it } from "vitest";
import { validateSourceProtected } from "../../policy/source-protected";
import { stackArgs, stackResource, violations } from "./args";
import { flagsUpTo, herokuConfig, vultrConfig, writeStackFile } from "./stacks";

const box = (protect: boolean) => stackResource("vultr:index/instance:Instance", "source-instance", { mainIp: "198.51.100.20" }, { protect });
const command = (name: string, create: string) => stackResource("command:local:Command", name, { create });
const ADDON_DESTROY = "ferry --json heroku destroy-addon --app mastodon-web --addon postgresql-curved-12345 --confirm mastodon-web";

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

  it("passes destroying commands at decommission, fails them earlier", () => {
    const cleanup = command("decommission-pg-cleanup", "ferry --json pg cleanup");
    const destroy = command("decommission-postgres-addon", ADDON_DESTROY);
    expect(check(vultrConfig(flagsUpTo("decommission")), [box(false), cleanup])).toEqual([]);
    expect(check(herokuConfig(flagsUpTo("decommission")), [destroy])).toEqual([]);
    expect(check(herokuConfig(flagsUpTo("cutover")), [destroy, command("cutover-pg", "ferry --json pg cutover --strategy dump")])).toEqual([
      expect.stringMatching(/decommission-postgres-addon destroys the source postgres .* while postgres is at cutover; only allowed at decommission/),
    ]);
    expect(check(vultrConfig(flagsUpTo("cutover")), [box(true), cleanup])).toEqual([expect.stringMatching(/destroys the source postgres/)]);
  });

  it("fails safe when the stack config cannot be read", () => {
    const found = violations((report) => validateSourceProtected(stackArgs([box(true)], { stackFile: "/nonexistent/Pulumi.x.yaml" }), report));
    expect(found).toEqual([expect.stringMatching(/cannot read the ferry stack config/)]);
  });
});
