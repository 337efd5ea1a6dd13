// A stack naming several stores of a kind parses (config/stores/), but the program moves
// one of each so far: index.ts stops on it in one line naming the key, before declaring
// any resource; one named store of each kind builds.
import { describe, expect, it, vi } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { FAKE_SECRET_KEYS, resourcesOf } from "./harness";
import { named, patch } from "../config/named-stacks";

const SECRET_KEYS = [...FAKE_SECRET_KEYS, "ferry:sourceDatabaseUrls", "ferry:sourceRedisUrls"];

describe("several stores of a kind", () => {
  it("are refused by the program before any resource, naming the key and the stores", async () => {
    pulumi.runtime.setAllConfig(named(), SECRET_KEYS);
    await expect(import("../../index")).rejects.toThrow(
      /^ferry:source\.postgres: names 2 Postgres stores \(main, legacy\), and this version of ferry moves one Postgres store per stack: nothing was changed;/,
    );
    expect(await resourcesOf("ferry")).toEqual([]);
  });

  it("one named store of each kind builds as the unnamed stack does", async () => {
    vi.resetModules();
    const one = patch(patch(named(), "ferry:source", (s) => delete s.postgres.legacy), "ferry:target", (t) => delete t.postgres.legacy);
    const raw = { ...one, "ferry:sourceDatabaseUrls": JSON.stringify({ main: JSON.parse(named()["ferry:sourceDatabaseUrls"]).main }) };
    pulumi.runtime.setAllConfig(raw, SECRET_KEYS);
    const program = await import("../../index");
    expect(program.stages).toEqual({ postgres: "provision", redis: "provision", app: "provision" });
    const resources = await resourcesOf("ferry");
    expect(resources.filter((r) => r.type === "aws:rds/instance:Instance")).toHaveLength(1);
  });
});
