// index.ts end to end under mocks: config from Pulumi's store (set before the import, as
// the program reads it once), a bad stack failing before any resource exists.
import { describe, expect, it, vi } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { FAKE_SECRET_KEYS, resourcesOf, stackConfig, upTo, withFlags } from "./harness";

describe("index.ts", () => {
  it("fails on an out-of-order flag before declaring anything", async () => {
    pulumi.runtime.setAllConfig(withFlags(stackConfig("staging"), { cutover: true }), FAKE_SECRET_KEYS);
    await expect(import("../../index")).rejects.toThrow(/^ferry:cutover: requires ferry:replicate and ferry:proxy/);
    expect(await resourcesOf("ferry")).toEqual([]);
  });

  it("refuses a secret key stored in clear text, naming it, before declaring anything", async () => {
    vi.resetModules();
    const clear = FAKE_SECRET_KEYS.filter((k) => k !== "ferry:herokuApiKey");
    pulumi.runtime.setAllConfig(withFlags(stackConfig("staging"), upTo("replicate")), clear);
    await expect(import("../../index")).rejects.toThrow(
      /^ferry:herokuApiKey: set it with --secret \(pulumi config set --secret ferry:herokuApiKey \.\.\.\)/,
    );
    expect(await resourcesOf("ferry")).toEqual([]);
  });

  it("builds the stack from the stack's config and exports the plan", async () => {
    vi.resetModules();
    pulumi.runtime.setAllConfig(withFlags(stackConfig("staging"), upTo("replicate")), FAKE_SECRET_KEYS);
    const program = await import("../../index");
    expect(program.activeStages).toEqual(["provision", "replicate"]);
    expect(program.stages).toEqual({ postgres: "replicate", redis: "replicate", app: "provision" });
    expect(program.nextStep).toMatch(/^Replicating\. Next: `pulumi config set ferry:proxy true`/);
    expect(await pulumi.isSecret(program.postgresUrl)).toBe(true);
    const resources = await resourcesOf("ferry");
    // Every step runs on the EC2 runner (the stores are private): remote Commands.
    const local = resources.filter((r) => r.type === "command:remote:Command" && !r.name.endsWith("-runner-ready"));
    // Two reads per Heroku app (addons, domains), the replicate steps, the RDS CA bundle's
    // copy, per app the app plane's config copy, release read, slug copy and release phase,
    // and the image copies (the app's two and the pooler's node image).
    expect(local.filter((r) => r.name.startsWith("ferry-heroku-")).length).toBe(4);
    // preflight + replicate per store, and the guard that refuses a rollback losing data.
    expect(local.filter((r) => r.name.startsWith("ferry-replicate-")).map((r) => r.name).sort()).toEqual(["ferry-replicate-pg", "ferry-replicate-pg-guard", "ferry-replicate-pg-preflight", "ferry-replicate-redis", "ferry-replicate-redis-guard", "ferry-replicate-redis-preflight"]);
    expect(local.filter((r) => r.name.startsWith("ferry-app-")).map((r) => r.name).sort()).toEqual(
      [...["masto-streaming", "masto-web"].flatMap((app) => [`ferry-app-${app}-config`, `ferry-app-${app}-release`, `ferry-app-${app}-release-phase`, `ferry-app-${app}-slug`]), "ferry-app-rds-ca"],
    );
    expect(local.filter((r) => r.name.startsWith("ferry-images-copy-")).length).toBe(3);
    // The pooler's TLS (its CA and certificates) and the ferry bundle its tasks fetch.
    expect(local.filter((r) => r.name.startsWith("ferry-pooler-")).map((r) => r.name).sort()).toEqual(["ferry-pooler-bundle", "ferry-pooler-tls"]);
    expect(local.length).toBe(24);
  });
});
