import * as path from "path";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { runNode } from "../support/run-node";
import { diffStages } from "../../policy/plan/diff";
import { aroundDifference } from "../../policy/plan/markdown";
import { plannedResource } from "../../policy/plan/planned";
import { vultrConfig, writeStackFile } from "./stacks";

const secret = (value: unknown) => ({ [specialSigKey]: specialSecretSig, value });
const ROOT = path.join(__dirname, "..", "..");

describe("stage plan diff", () => {
  const db = (inputs: Record<string, unknown>, opts: Record<string, unknown> = {}) => plannedResource("aws:rds/instance:Instance", "db", inputs, opts);

  it("sorts resources into added, changed (with the inputs that change) and removed", () => {
    const before = [db({ deletionProtection: false, tags: { a: "1" } }), plannedResource("x:y:Z", "gone", {})];
    const after = [db({ deletionProtection: true, tags: { a: "1" } }), plannedResource("x:y:Z", "new", {})];
    const diff = diffStages(before, after);
    expect(diff.added.map((r) => r.name)).toEqual(["new"]);
    expect(diff.removed.map((r) => r.name)).toEqual(["gone"]);
    expect(diff.changed).toHaveLength(1);
    expect(diff.changed[0].changes).toEqual([{ key: "deletionProtection", before: "false", after: "true" }]);
  });

  it("shows a secret that changes as [secret] on both sides, and an unchanged one not at all", () => {
    const diff = diffStages([db({ password: secret("a"), url: secret("same") })], [db({ password: secret("b"), url: secret("same") })]);
    expect(diff.changed[0].changes).toEqual([{ key: "password", before: "[secret]", after: "[secret]" }]);
  });

  it("reports resource options that change, such as protect", () => {
    const diff = diffStages([db({}, { protect: true })], [db({}, {})]);
    expect(diff.changed[0].changes).toEqual([{ key: "(protect)", before: "true", after: undefined }]);
  });

  it("shows long values around their first difference", () => {
    const [a, b] = aroundDifference(`${"x".repeat(100)}source${"y".repeat(100)}`, `${"x".repeat(100)}target${"y".repeat(100)}`);
    expect(a).toMatch(/^…x+sourcey+…$/);
    expect(b).toMatch(/^…x+targety+…$/);
  });
});

describe("npm run plan", () => {
  it("prints every stage of a stack with what each flag adds, changes and removes", async () => {
    const file = writeStackFile(vultrConfig(), "plantest");
    const run = await runNode(["--import", "tsx", "policy/plan.ts", "--stack", "plantest", "--dir", path.dirname(file)], { cwd: ROOT });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const out = run.stdout;
    expect(out.match(/^## \w+/gm)).toEqual(["## provision", "## replicate", "## proxy", "## cutover", "## decommission"]);
    const section = (stage: string) => out.split(/^## /m).find((s) => s.startsWith(stage))!;
    expect(section("replicate")).toMatch(/\| added \| `command:local:Command` \| ferry-replicate-pg \|/);
    expect(section("cutover")).toMatch(/\| changed \| `cloudflare:index\/dnsRecord:DnsRecord` \| ferry-dns-0 \| .*`content`: 198\.51\.100\.20 → /);
    expect(section("decommission")).toMatch(/\| changed \| `vultr:index\/instance:Instance` \| ferry-source-instance \| `\(protect\)`: true → \(unset\)/);
    expect(out).not.toMatch(/placeholder|BEGIN OPENSSH/);
  }, 120_000);

  it("fails with one line and exit code 2 on a bad stack", async () => {
    const file = writeStackFile({ ...vultrConfig(), "ferry:cutover": "true" }, "badplan");
    const run = await runNode(["--import", "tsx", "policy/plan.ts", "--stack", "badplan", "--dir", path.dirname(file)], { cwd: ROOT });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^ferry plan: ferry:cutover: requires ferry:replicate and ferry:proxy .*\n$/);
  });
});
