// What the Command stand-in hands the report to scrub: the values the program made Pulumi
// secrets, not the plain values beside them (an app or add-on name the preview shows).
import { describe, expect, test } from "vitest";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import { CommandRunner } from "../../../rehearsal/stack/standins/command";
import type { Goal } from "../../../rehearsal/stack/engine";
import { tempDir } from "../../../rehearsal/servers";

const secret = (value: unknown) => ({ [rpc.specialSigKey]: rpc.specialSecretSig, value });

function goal(raw: Record<string, unknown>, inputs: Record<string, unknown>): Goal {
  return {
    urn: "urn:pulumi:s::p::command:local:Command::step", type: "command:local:Command", name: "step", custom: true, inputs, raw,
    dependencies: [], deleteBeforeReplace: false, protect: false, retainOnDelete: false, replaceOnChanges: [], ignoreChanges: [],
  };
}

async function scrubbedBy(raw: Record<string, unknown>, inputs: Record<string, unknown>): Promise<string[]> {
  const noted: string[] = [];
  const runner = new CommandRunner({ runnerEnv: { PATH: process.env.PATH ?? "" }, isRunner: () => true, logsDir: tempDir("command-secrets"), secret: (v) => noted.push(v), log: () => undefined });
  await runner.create(goal(raw, inputs));
  return noted;
}

describe("the Command stand-in's secrets", () => {
  test("a secret value of the environment is scrubbed; the plain app and add-on names beside it are not", async () => {
    const inputs = { create: "true", environment: { HEROKU_API_KEY: "hk-secret-token", FERRY_SOURCE_HEROKU_APP: "masto-web", FERRY_SOURCE_HEROKU_ADDON: "postgresql-curved-1" } };
    const raw = { create: "true", environment: { HEROKU_API_KEY: secret("hk-secret-token"), FERRY_SOURCE_HEROKU_APP: "masto-web", FERRY_SOURCE_HEROKU_ADDON: "postgresql-curved-1" } };
    expect(await scrubbedBy(raw, inputs)).toEqual(["hk-secret-token"]);
  });

  test("an environment made secret as a whole has every value scrubbed, and so has a secret stdin", async () => {
    const env = { FERRY_SOURCE_URL: "postgres://u:pw@h/db", FERRY_SOURCE_HEROKU_APP: "masto-web" };
    const noted = await scrubbedBy({ create: "true", environment: secret(env), stdin: secret("a-password") }, { create: "true", environment: env, stdin: "a-password" });
    expect(noted.sort()).toEqual(["a-password", "masto-web", "postgres://u:pw@h/db"]);
  });

  test("a secret's numbers and other inputs are not scrubbed: they would blank the report's own figures", async () => {
    const noted = await scrubbedBy({ create: "true", triggers: secret([5432, "v1"]), environment: { PORT: secret(5432) } }, { create: "true", triggers: [5432, "v1"], environment: { PORT: 5432 } });
    expect(noted).toEqual([]);
  });
});
