// index.ts end to end under mocks: config from Pulumi's store (set before the import, as
// the program reads it once), a bad stack failing before any resource exists.
import { describe, expect, it, vi } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { resourcesOf, stackConfig, upTo, withFlags } from "./harness";

describe("index.ts", () => {
  it("fails on an out-of-order flag before declaring anything", async () => {
    pulumi.runtime.setAllConfig(withFlags(stackConfig("staging"), { cutover: true }));
    await expect(import("../../index")).rejects.toThrow(/^ferry:cutover: requires ferry:replicate and ferry:proxy/);
    expect(await resourcesOf("ferry")).toEqual([]);
  });

  it("builds the stack from the stack's config and exports the plan", async () => {
    vi.resetModules();
    pulumi.runtime.setAllConfig(withFlags(stackConfig("staging"), upTo("replicate")));
    const program = await import("../../index");
    expect(program.activeStages).toEqual(["provision", "replicate"]);
    expect(program.stages).toEqual({ postgres: "replicate", redis: "replicate", app: "provision" });
    expect(program.nextStep).toMatch(/^Replicating\. Next: `pulumi config set ferry:proxy true`/);
    expect(await pulumi.isSecret(program.postgresUrl)).toBe(true);
    const resources = await resourcesOf("ferry");
    const local = resources.filter((r) => r.type === "command:local:Command");
    // Two reads per Heroku app (addons, domains), the four replicate steps, and per app
    // the app plane's config copy, release read, slug copy and release phase.
    expect(local.filter((r) => r.name.startsWith("ferry-heroku-")).length).toBe(4);
    expect(local.filter((r) => r.name.startsWith("ferry-replicate-")).length).toBe(4);
    expect(local.filter((r) => r.name.startsWith("ferry-app-")).map((r) => r.name).sort()).toEqual(
      ["masto-streaming", "masto-web"].flatMap((app) => [`ferry-app-${app}-config`, `ferry-app-${app}-release`, `ferry-app-${app}-release-phase`, `ferry-app-${app}-slug`]),
    );
    expect(local.length).toBe(16);
  });
});
