// A stray `.only` would let CI pass on one test of a file and skip the rest: `npm run
// lint` refuses one in a test file, in any of the chains vitest accepts, and vitest
// itself refuses one (allowOnly: false in every config).
import * as path from "path";
import { ESLint } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";
import config from "../../vitest.config";
import faults from "../../vitest.faults.config";
import rehearsal from "../../vitest.rehearsal.config";

const ROOT = path.join(__dirname, "..", "..");

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT, overrideConfigFile: path.join(ROOT, "eslint.config.mjs") });
});

/** What ESLint says about `code` in a test file, unused imports aside. */
async function lint(code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { describe, expect, it, test } from "vitest";\n${code}\n`, { filePath: path.join(ROOT, "tests/dataplane/new.test.ts") });
  return result.messages.filter((m) => m.ruleId !== "@typescript-eslint/no-unused-vars").map((m) => `${m.ruleId}: ${m.message}`);
}

const FOCUSED = "no-restricted-syntax: no .only: it skips every other test of the file (focus from the command line: npx vitest run FILE -t NAME)";

describe("focused tests", () => {
  it.each([
    'describe.only("a", () => undefined);',
    'it.only("a", () => expect(1).toBe(1));',
    'test.only("a", () => expect(1).toBe(1));',
    'it.only.each([1])("a %s", (n) => expect(n).toBe(1));',
    'describe.only.each([1])("a %s", () => undefined);',
    'test.concurrent.only("a", () => expect(1).toBe(1));',
    'test.skipIf(false).only("a", () => expect(1).toBe(1));',
  ])("%s fails lint", async (code) => {
    expect(await lint(code)).toEqual([FOCUSED]);
  });

  it("the same tests unfocused, and an `only` that is not a test's, pass", async () => {
    expect(await lint('describe("a", () => undefined);\nit.each([1])("a %s", (n) => expect(n).toBe(1));\ntest.concurrent("a", () => expect(1).toBe(1));\nexport const picked = { only: true }.only;')).toEqual([]);
  });

  it("vitest refuses .only in every config", () => {
    for (const c of [config, faults, rehearsal]) expect(c.test?.allowOnly).toBe(false);
  });
});
