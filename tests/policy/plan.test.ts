import * as path from "path";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { runNode } from "../support/run-node";
import { UNREAD } from "../../components/target/app/steps";
import { commandRuns, diffStages } from "../../policy/plan/diff";
import { aroundDifference, commandList, kindOf, renderPlan } from "../../policy/plan/markdown";
import { plannedResource } from "../../policy/plan/planned";
import * as fs from "fs";
import { herokuConfig, vultrConfig, writeStackFile } from "./stacks";
import { estimateWriteWindow, formatDuration } from "../../policy/plan/write-window";

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

  it("shows a difference far into a long value (a task definition's environment), not two equal clips", () => {
    const defs = (where: string) => JSON.stringify([{ name: "app", image: "x".repeat(600), environment: [{ name: "FERRY_DATA_GENERATION", value: `postgres=${where}` }] }]);
    const td = (where: string) => plannedResource("aws:ecs/taskDefinition:TaskDefinition", "web", { containerDefinitions: defs(where) });
    const plan = renderPlan("s", [{ stage: "provision", diff: diffStages([], [td("source")]), total: 1 }, { stage: "cutover", diff: diffStages([td("source")], [td("target")]), total: 1 }]);
    expect(plan).toMatch(/`containerDefinitions`: …[^|]*postgres=source[^|]*→ …[^|]*postgres=target/);
  });

  it("says in words what a step prints only once pulumi up has run it", () => {
    const slug = plannedResource("command:remote:Command", "slug", { create: `ferry heroku slug --app a --slug ${UNREAD} --out slug.tgz`, triggers: [UNREAD, "bucket"] });
    expect(slug.inputs.create).toBe("ferry heroku slug --app a --slug (known after pulumi up) --out slug.tgz");
    expect(slug.inputs.triggers).toBe('["(known after pulumi up)","bucket"]');
  });
});

describe("the commands a stage runs", () => {
  const cmd = (name: string, inputs: Record<string, unknown>) => plannedResource("command:remote:Command", name, inputs);
  const other = plannedResource("aws:s3/bucket:Bucket", "bucket", { bucket: "b" });

  it("lists creates and updates as they register, then deletes in reverse order, replaced Commands' old copies among them", () => {
    const before = [
      other,
      cmd("recreated", { create: "ferry redis status" }),
      cmd("kept", { create: "ferry pg status" }),
      cmd("moved-on", { create: "ferry pg verify", update: "ferry pg verify --fast" }),
      cmd("rerun", { create: "ferry health --times 5", triggers: ["10"], delete: "echo old health gone" }),
      cmd("first-gone", { create: "ferry proxy apply", delete: "ferry proxy revert" }),
      cmd("second-gone", { create: "ferry pg replicate", delete: "ferry pg cleanup" }),
    ];
    const after = [
      cmd("new", { create: "ferry cutover", delete: "ferry pg rollback" }),
      other,
      cmd("kept", { create: "ferry pg status" }),
      cmd("moved-on", { create: "ferry pg verify --all", update: "ferry pg verify --fast --all" }),
      cmd("rerun", { create: "ferry health --times 5", triggers: ["100"], delete: "echo old health gone" }),
      cmd("recreated", { create: "ferry redis status --require-cutover" }),
    ];
    expect(commandRuns(before, after)).toEqual([
      { name: "new", verb: "create", command: "ferry cutover" },
      { name: "moved-on", verb: "update", command: "ferry pg verify --fast --all" },
      { name: "rerun", verb: "replace", command: "ferry health --times 5" },
      { name: "recreated", verb: "create", command: "ferry redis status --require-cutover" },
      { name: "second-gone", verb: "delete", command: "ferry pg cleanup" },
      { name: "first-gone", verb: "delete", command: "ferry proxy revert" },
      { name: "rerun", verb: "delete", command: "echo old health gone" },
    ]);
  });

  it("prints them as one numbered shell listing, and nothing for a stage that runs none", () => {
    const lines = commandList([{ name: "a", verb: "create", command: "ferry pg preflight\n" }, { name: "b", verb: "delete", command: "ferry pg cleanup" }]);
    expect(lines.join("\n")).toContain("```sh\n# 1. a (create)\nferry pg preflight\n# 2. b (delete)\nferry pg cleanup\n```");
    expect(commandList([])).toEqual([]);
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
    // The steps run on the EC2 runner (the stores are private): remote Commands.
    expect(section("replicate")).toMatch(/\| added \| `command:remote:Command` \| ferry-replicate-pg \|/);
    expect(section("cutover")).toMatch(/\| changed \| `cloudflare:index\/dnsRecord:DnsRecord` \| ferry-dns-0 \| .*`content`: 198\.51\.100\.20 → /);
    // The source box is a read at every stage: no option on it ever changes.
    expect(out).not.toMatch(/\| (changed|removed) \| `vultr:index\/instance:Instance`/);
    expect(out).not.toMatch(/placeholder|BEGIN OPENSSH|unread-until/);
    // Each stage's commands, in the order they run: preflight before replicate, per store.
    const commands = section("replicate").split("```sh\n")[1].split("```")[0];
    const at = (name: string) => commands.indexOf(`. ${name} (create)`);
    expect(at("ferry-replicate-pg-preflight")).toBeGreaterThanOrEqual(0);
    expect(at("ferry-replicate-pg-preflight")).toBeLessThan(at("ferry-replicate-pg"));
    expect(commands).toMatch(/ferry-replicate-pg \(create\)\nferry --json pg replicate --strategy logical\n/);
    // Read as a PR comment: words first, the table folded away. Replicate adds preflight,
    // replicate and the rollback guard per store, and turns on the target's deletion protection.
    expect(section("replicate")).toMatch(/^replicate \(ferry:replicate true\)\n\nCopies the data stores into AWS[^\n]*\n\nWrite window: none: the copy reads the source, which stays writable\.\n\nAdds 7 \(6 remote Command\); changes 1 \(1 rds Instance\); removes 0\. \d+ resources in all\./);
    expect(section("replicate")).toMatch(/<details><summary>Resources: 7 added, 1 changed, 0 removed<\/summary>\n\n\| \| type/);
    // No inventory: the box is unpriced, and the plan says how to price it.
    expect(out).toMatch(/old box: unpriced, no inventory; run `ferry init`/);
    // A write-window line per stage: logical replication's window does not need the size.
    for (const stage of ["provision", "replicate", "proxy", "decommission"]) expect(section(stage)).toMatch(/\n\nWrite window: none: /);
    expect(section("cutover")).toMatch(/\n\n\*\*Write window \(estimate\): about 1 min 20 s\*\*, from the fence[^\n]*\n\n- fence, catch-up and verify: 1\.0 s, measured by `FERRY_BENCH_MB=1024 [^`]*bench:pg-cutover`/);
  }, 120_000);

  it("prices every stage from the inventory and the region's table, with the overlap and the table's date and source", async () => {
    const file = writeStackFile(herokuConfig(), "costtest");
    fs.copyFileSync(path.join(ROOT, "ferry-inventory.staging.json"), path.join(path.dirname(file), "ferry-inventory.costtest.json"));
    const inventory = JSON.parse(fs.readFileSync(path.join(ROOT, "ferry-inventory.staging.json"), "utf8"));
    inventory.apps = inventory.apps.slice(0, 1);
    inventory.apps[0].name = "mastodon-web";
    inventory.apps[0].addons[1].name = "redis-round-67890";
    fs.writeFileSync(path.join(path.dirname(file), "ferry-inventory.costtest.json"), JSON.stringify(inventory));
    const run = await runNode(["--import", "tsx", "policy/plan.ts", "--stack", "costtest", "--dir", path.dirname(file)], { cwd: ROOT });
    expect(run.stderr).toBe("");
    const out = run.stdout;
    // Heroku today: 2 × $50 + 1 × $25 dynos, $50 Postgres, $15 Redis, $0 Scheduler = $190.
    // AWS (us-east-1 table): 1 Fargate task of a standard-1X (0.25 vCPU, 0.5 GB) = (0.25 × 0.04048 +
    // 0.5 × 0.004445) × 730 = $9.01; RDS db.t4g.medium 0.065 × 730 + 20 × 0.115 = $49.75;
    // cache.t4g.small 0.032 × 730 = $23.36; NAT 0.045 × 730 = $32.85; NAT address 0.005 × 730 =
    // $3.65; ALB 0.0225 × 730 = $16.43 (16.425 rounds half up); the EC2 runner (the stores are
    // private): t3.small 0.0208 × 730 + 30 GB gp3 × 0.08 = $17.58, its address $3.65: $156.28.
    expect(out).toMatch(/\| provision \| \$190\.00 \| \$156\.28 \| \*\*\$346\.28\*\* \| both sides bill \|/);
    // proxy adds the Cloudflare split ($5), decommission releases the dynos and both stores.
    expect(out).toMatch(/\| proxy \| \$190\.00 \| \$161\.28 \| \*\*\$351\.28\*\* \| both sides bill \|/);
    expect(out).toMatch(/\| decommission \| \$0\.00 \| \$156\.28 \| \*\*\$156\.28\*\* \|  \|/);
    expect(out).toMatch(/AWS: on-demand list prices for us-east-1, table of \d{4}-\d{2}-\d{2} \(AWS on-demand list prices \(https:\/\/aws\.amazon\.com/);
    expect(out).toMatch(/^Monthly cost at this stage: Heroku \$190\.00 \+ AWS \$156\.28 = \*\*\$346\.28\*\* \(both sides bill during this stage\)\.$/m);
    // The cutover's write window from the size init recorded (11 GiB a copy moves) at the dump copy's measured rate.
    const cutover = out.split(/^## /m).find((x) => x.startsWith("cutover"))!;
    const expected = estimateWriteWindow({ sourceKind: "heroku", strategy: "dump", copiedBytes: 11 * 1024 ** 3 });
    expect(cutover).toContain(`**Write window (estimate): about ${formatDuration(expected.ms!)}**`);
    expect(cutover).toMatch(/^- dump copy: \d+ min \d+ s, 11\.00 GB \(what `ferry init` read the copy moves\) at [\d.]+ MB\/s, the dump copy's rate measured by `npm run bench:pg-copy -- --gb 1 --jobs 4`/m);
    expect(cutover).toMatch(/rate-based figure/);
  }, 120_000);

  it("puts the trial copy's own time in place of the rate-based figure, given the stack's outputs", async () => {
    const file = writeStackFile(herokuConfig(), "trialtest");
    const dir = path.dirname(file);
    const inventory = JSON.parse(fs.readFileSync(path.join(ROOT, "ferry-inventory.staging.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "ferry-inventory.trialtest.json"), JSON.stringify(inventory));
    const outputs = path.join(dir, "trialtest-outputs.json");
    fs.writeFileSync(outputs, JSON.stringify({ nextStep: "…", postgresTrialCopy: { ms: 754_000, bytes: 9 * 1024 ** 3, tables: 40, rows: 80_000_000 } }));
    const run = await runNode(["--import", "tsx", "policy/plan.ts", "--stack", "trialtest", "--dir", dir, "--outputs", outputs], { cwd: ROOT });
    expect(run.stderr).toBe("");
    const cutover = run.stdout.split(/^## /m).find((x) => x.startsWith("cutover"))!;
    // 12 min 34 s of trial copy + 9.7 s + 1 min 24 s measured around it.
    expect(cutover).toContain("**Write window (estimate): about 14 min 8 s**");
    expect(cutover).toMatch(/^- dump copy: 12 min 34 s, replicate's trial copy of this database: 9\.00 GB streamed, 40 table\(s\)/m);
    expect(cutover).not.toMatch(/rate-based/);
    // A malformed output: one line naming the file and the key.
    fs.writeFileSync(outputs, JSON.stringify({ postgresTrialCopy: { ms: "soon" } }));
    const bad = await runNode(["--import", "tsx", "policy/plan.ts", "--stack", "trialtest", "--dir", dir, "--outputs", outputs], { cwd: ROOT });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^ferry plan: --outputs \S+trialtest-outputs\.json: postgresTrialCopy: expected [^\n]*\n$/);
  }, 180_000);

  it("names resource kinds shortly", () => {
    expect(kindOf("aws:rds/instance:Instance")).toBe("rds Instance");
    expect(kindOf("command:local:Command")).toBe("local Command");
    expect(kindOf("cloudflare:index/dnsRecord:DnsRecord")).toBe("DnsRecord");
  });

  it("fails with one line and exit code 2 on a bad stack", async () => {
    const file = writeStackFile({ ...vultrConfig(), "ferry:cutover": "true" }, "badplan");
    const run = await runNode(["--import", "tsx", "policy/plan.ts", "--stack", "badplan", "--dir", path.dirname(file)], { cwd: ROOT });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^ferry plan: ferry:cutover: requires ferry:replicate and ferry:proxy .*\n$/);
  });
});
