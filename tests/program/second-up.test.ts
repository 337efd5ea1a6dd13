// A second `pulumi up` with the same config and the same source changes nothing (issue
// 23, item 11): after each stage's up, the same up again through the engine model
// (rehearsal/stack/engine.ts) runs only reads, Commands whose output is what it was, and
// no resource is created, updated, replaced or deleted: no task definition, service,
// release phase, schedule or secret version. The Heroku config copies run for real
// (`ferry heroku config copy` against the fake Heroku Platform API, through the real AWS
// CLI against the Secrets Manager stand-in), as they read the source on every up.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { pulumiUp, StateFile, UpdateResult } from "../../rehearsal/stack/engine";
import { AwsApi, awsWrapper } from "../../rehearsal/servers/aws-api";
import { FakeHerokuApi, startHerokuApi } from "../../rehearsal/servers/heroku-api";
import { tempDir } from "../../rehearsal/servers";
import { CommandRunner, ferryOnPath } from "../../rehearsal/stack/standins/command";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FAKE_CONFIG_VAR_NAMES, FAKE_SECRETS, stackConfig, upTo, withFlags } from "./stacks";
import { newState, recordingProvider } from "./recording";
import { withPooler } from "../components/pooler-config";

type StageName = "provision" | "replicate" | "proxy" | "cutover" | "decommission";
const ROOT = resolve(__dirname, "..", "..");

let heroku: FakeHerokuApi;
let aws: AwsApi;
let commands: CommandRunner;

beforeAll(async () => {
  const realAws = spawnSync("sh", ["-c", "command -v aws"], { encoding: "utf8" }).stdout.trim();
  if (!realAws) throw new Error("the AWS CLI is needed (apt-get install awscli)");
  aws = new AwsApi({ region: "us-east-1", account: "123456789012", tasks: { runTask: async () => undefined } });
  await aws.start();
  // The staging apps' config vars on Heroku, each value of its own.
  heroku = await startHerokuApi({
    apiKey: FAKE_SECRETS["ferry:herokuApiKey"],
    apps: Object.entries(FAKE_CONFIG_VAR_NAMES).map(([name, vars]) => ({ name, configVars: Object.fromEntries(vars.map((v) => [v, `${name}-${v.toLowerCase()}-value`])) })),
  });
  const bin = ferryOnPath(ROOT);
  writeFileSync(join(bin, "aws"), awsWrapper(realAws, aws.url), { mode: 0o755 });
  commands = new CommandRunner({
    runnerEnv: {
      ...(process.env as Record<string, string>), PATH: `${bin}:${process.env.PATH}`, HEROKU_API_URL: heroku.url, FERRY_PROJECT_DIR: ROOT,
      AWS_ACCESS_KEY_ID: "AKIATEST0000000000", AWS_SECRET_ACCESS_KEY: "test-secret-key", AWS_DEFAULT_REGION: "us-east-1",
      AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true",
    },
    isRunner: () => true, logsDir: tempDir("second-up-logs"), secret: () => undefined, log: () => undefined,
  });
});

afterAll(async () => {
  await heroku?.stop();
  await aws?.stop();
});

/** The recording provider, with the config copies run for real and the secrets they write registered with the stand-in. */
function provider() {
  return recordingProvider({
    run: async (g, phase, previous) => {
      if (!/^ferry --json heroku config copy /.test(String(g.inputs[phase] ?? ""))) return undefined;
      const out = phase === "create" ? await commands.create({ ...g, urn: g.name, custom: true, raw: g.inputs, dependencies: [], deleteBeforeReplace: false, protect: false, retainOnDelete: false, replaceOnChanges: [], ignoreChanges: [] })
        : await commands.update({ urn: g.name, type: g.type, name: g.name, custom: true, id: g.name, inputs: g.inputs, outputs: previous ?? {}, dependencies: [], protect: false, retainOnDelete: false, read: false }, { ...g, urn: g.name, custom: true, raw: g.inputs, dependencies: [], deleteBeforeReplace: false, protect: false, retainOnDelete: false, replaceOnChanges: [], ignoreChanges: [] });
      return String(out.outputs.stdout);
    },
    created: (g) => {
      if (g.type !== "aws:secretsmanager/secret:Secret") return {};
      // As the harness names them: the prefix and Secrets Manager's random suffix.
      const arn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:${String(g.inputs.namePrefix)}AbCdEf`;
      aws.createSecret(arn, String(g.inputs.namePrefix));
      return { arn, id: arn };
    },
  });
}

const flagsFor = (stage: StageName) => upTo(stage, stage === "proxy" ? { trafficPercent: 30 } : {});

/** What the second up did that is not a read: every step but a Command that printed what it printed before. */
function changes(second: UpdateResult, before: StateFile, after: StateFile): string[] {
  const stdout = (state: StateFile, urn: string) => state.read().resources.find((r) => r.urn === urn)?.outputs.stdout;
  const prior = before.read();
  return second.steps.flatMap((s) => {
    const isRead = s.type.startsWith("command:") && s.op === "update" && s.ok
      && JSON.stringify(prior.resources.find((r) => r.urn === s.urn)?.outputs.stdout) === JSON.stringify(stdout(after, s.urn));
    return isRead ? [] : [`${s.op} ${s.type.split(":").pop()} ${s.name}`];
  });
}

describe("a second pulumi up with the same config changes nothing", { timeout: 600_000 }, () => {
  test.each([
    ["staging (Heroku)", false],
    ["staging (Heroku) with the Postgres pooler", true],
  ] as const)("%s: after every stage, the same up again runs only reads", async (_label, pooler) => {
    const p = provider();
    const state = newState("ferry-second-up-");
    const found: Record<string, string[]> = {};
    let ups = 0;
    const puts = aws.calls.filter((c) => c.action === "secretsmanager:PutSecretValue" && c.ok).length;
    // A stack of its own each (the stand-in keeps the secrets the other wrote).
    const stackName = pooler ? "pooled" : "ferry";
    for (const stage of ["provision", "replicate", "proxy", "cutover", "decommission"] as StageName[]) {
      const config = parseConfig(withFlags(pooler ? withPooler(stackConfig("staging")) : stackConfig("staging"), flagsFor(stage)));
      // Each `pulumi up` is a process of its own, with its own read token.
      const up = () => pulumiUp({ project: "ferry", stack: "staging", stateFile: state, realizer: p.realizer, program: () => buildFerry(config, { name: stackName, readEpoch: `${stage}-${++ups}` }) });
      const first = await up();
      expect(first.error, stage).toBeUndefined();
      const snapshot = StateFile.create(join(tempDir("second-up-state"), "state.json"));
      const kept = state.read();
      snapshot.write(kept);
      const second = await up();
      expect(second.ok, `${stage} again: ${second.error}`).toBe(true);
      found[stage] = changes(second, snapshot, state);
      // The reads did run (the config copies read Heroku again until cutover).
      if (stage !== "cutover" && stage !== "decommission") expect(second.steps.some((s) => /-app-masto-web-config$/.test(s.name)), stage).toBe(true);
    }
    expect(found).toEqual({ provision: [], replicate: [], proxy: [], cutover: [], decommission: [] });
    // The copies wrote one version per app in all: the values never changed.
    expect(aws.calls.filter((c) => c.action === "secretsmanager:PutSecretValue" && c.ok).length - puts).toBe(2);
  });
});
