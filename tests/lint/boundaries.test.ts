// The architecture's boundaries are lint rules (eslint.config.mjs): each one is shown to
// bite on an import written from inside the folder it guards, through ESLint's own Node
// API and the repository's config, next to an import the same folder may make.
import * as path from "path";
import { ESLint } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = path.join(__dirname, "..", "..");
const RULE = "@typescript-eslint/no-restricted-imports";

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT, overrideConfigFile: path.join(ROOT, "eslint.config.mjs") });
});

/** The boundary messages ESLint reports for one import line in a file at `file`. */
async function boundaryErrors(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import * as m from "${source}";\nexport const used = m;\n`, { filePath: path.join(ROOT, file) });
  expect(result.messages.filter((m) => m.ruleId !== RULE)).toEqual([]);
  return result.messages.map((m) => m.message);
}

// [file that imports, import as written there, the boundary named in the message]
const forbidden: [string, string, string][] = [
  ["dataplane/postgres/new.ts", "@pulumi/pulumi", "data plane may not import @pulumi/*"],
  ["dataplane/postgres/new.ts", "@pulumi/command", "data plane may not import @pulumi/*"],
  ["dataplane/postgres/new.ts", "../../components/shell", "data plane may not import components"],
  ["dataplane/redis/new.ts", "../../rehearsal/servers/postgres", "data plane may not import rehearsal"],
  ["dataplane/traffic/new.ts", "../../policy/plan/cost", "data plane may not import policy"],
  ["dataplane/cli/new.ts", "../../migrations/commands", "data plane may not import migrations"],
  ["dataplane/heroku/new.ts", "../../migrations", "data plane may not import migrations"],
  ["dataplane/cutover/new.ts", "../../program", "data plane may not import program"],
  ["dataplane/init/new.ts", "../../config", "data plane may not import config/index"],
  ["dataplane/init/new.ts", "../../config/index", "data plane may not import config/index"],
  ["dataplane/postgres/new.ts", "../../config/load", "data plane may not import config/load"],
  ["bin/new.ts", "../components/runner", "data plane may not import components"],
  ["bin/new.ts", "@pulumi/aws", "data plane may not import @pulumi/*"],
  ["components/target/new.ts", "../../migrations/commands", "components may not import migrations"],
  ["components/new.ts", "../program", "components may not import program"],
  ["migrations/new.ts", "../program", "stages may not import program"],
  ["components/new.ts", "../rehearsal/servers/process", "components may not import rehearsal"],
  ["components/source/new.ts", "../../rehearsal", "components may not import rehearsal"],
  ["policy/new.ts", "../rehearsal/stack/engine", "product may not import rehearsal"],
  ["config/new.ts", "../tests/support/eventually", "product may not import tests"],
  ["migrations/new.ts", "../tests/program/harness", "product may not import tests"],
  ["new.ts", "./rehearsal/servers/redis", "product may not import rehearsal"],
];

// Imports the same folders may make: the boundaries are one-way.
const allowed: [string, string][] = [
  ["dataplane/postgres/new.ts", "../cli/common"],
  ["dataplane/postgres/new.ts", "pg"],
  ["dataplane/init/new.ts", "../../config/parse"],
  ["dataplane/cli/new.ts", "../../config/strategy"],
  ["migrations/new.ts", "@pulumi/command"],
  ["migrations/new.ts", "../components/shell"],
  ["migrations/new.ts", "../dataplane/postgres/connection"],
  ["program.ts", "./migrations/context"],
  ["index.ts", "./program"],
  ["components/target/new.ts", "../../config"],
  ["rehearsal/stack/new.ts", "../../dataplane/postgres/connection"],
  ["tests/dataplane/new.test.ts", "../../rehearsal/servers/postgres"],
  ["tests/dataplane/new.test.ts", "../../components/shell"],
  ["bench/new.ts", "../rehearsal/servers/postgres"],
  // A folder whose name merely contains a forbidden one is not it.
  ["dataplane/postgres/new.ts", "./components-of-a-plan"],
];

describe("import boundaries", () => {
  it.each(forbidden)("%s may not import %s", async (file, source, boundary) => {
    const errors = await boundaryErrors(file, source);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(boundary);
  });

  it.each(allowed)("%s may import %s", async (file, source) => {
    expect(await boundaryErrors(file, source)).toEqual([]);
  });

  it("the data plane imports statically, where the rules see it", async () => {
    const code = 'export const load = () => import("../../components/shell");\n';
    const [dataPlane] = await eslint.lintText(code, { filePath: path.join(ROOT, "dataplane/postgres/new.ts") });
    expect(dataPlane.messages.map((m) => m.ruleId)).toEqual(["no-restricted-syntax"]);
    const [policy] = await eslint.lintText(code.replace("../../components", "../components"), { filePath: path.join(ROOT, "policy/new.ts") });
    expect(policy.messages).toEqual([]);
  });

  it("a type-only import of config's barrel loads nothing, so the data plane may make it", async () => {
    const [result] = await eslint.lintText('import type { FerryConfig } from "../../config";\nexport type C = FerryConfig;\n', { filePath: path.join(ROOT, "dataplane/init/new.ts") });
    expect(result.messages).toEqual([]);
  });
});
