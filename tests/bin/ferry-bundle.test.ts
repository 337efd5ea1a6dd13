// bin/ferry.js runs the CLI from a cached esbuild bundle of dataplane/: the bundle must be
// rebuilt for any changed source (never an old CLI for new sources), and behave as the
// sources run through tsx do.
import { describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { isRoot, tempDir } from "../../rehearsal/servers";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { bundleKey } = require("../../bin/lib/bundle.js") as { bundleKey: (root?: string) => string };
const FERRY = resolve(__dirname, "../../bin/ferry.js");

function ferry(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [FERRY, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("bin/ferry.js bundle", () => {
  test("the bundle's key changes with any source file or the lockfile", () => {
    const root = tempDir("ferry-bundle-key");
    mkdirSync(join(root, "dataplane", "cli"), { recursive: true });
    writeFileSync(join(root, "dataplane", "cli", "main.ts"), "export const a = 1;\n");
    writeFileSync(join(root, "package-lock.json"), "{}\n");
    const first = bundleKey(root);
    expect(bundleKey(root)).toBe(first);
    writeFileSync(join(root, "dataplane", "cli", "main.ts"), "export const a = 2;\n");
    const edited = bundleKey(root);
    expect(edited).not.toBe(first);
    writeFileSync(join(root, "dataplane", "new.ts"), "");
    const added = bundleKey(root);
    expect(added).not.toBe(edited);
    writeFileSync(join(root, "package-lock.json"), "{ }\n");
    const locked = bundleKey(root);
    expect(locked).not.toBe(added);
    // The CLI inlines config/ too (`ferry init` validates its draft with parseConfig).
    mkdirSync(join(root, "config"), { recursive: true });
    writeFileSync(join(root, "config", "references.ts"), "export const b = 1;\n");
    expect(bundleKey(root)).not.toBe(locked);
  });

  test("the bundled CLI answers as the sources through tsx do", () => {
    for (const args of [["--help"], ["pg", "cutover", "--help"], ["pg", "verify"], ["redis", "cutover", "--strategy", "sideways"], ["no-such-command"]]) {
      const bundled = ferry(args);
      const sources = ferry(args, { FERRY_NO_BUNDLE: "1" });
      expect({ args, ...bundled }).toEqual({ args, ...sources });
    }
    expect(ferry(["pg", "verify"]).stderr).toBe("ferry: missing --source: pass --source URL or set FERRY_SOURCE_URL\n");
    // The bundle of these very sources is what ran (not a silent fall back to tsx).
    expect(existsSync(resolve(__dirname, `../../node_modules/.cache/ferry/ferry-${bundleKey()}.js`))).toBe(true);
  });

  test("where no bundle can be cached, the CLI still runs, from its sources", () => {
    const r = ferry(["pg", "verify"], { FERRY_BUNDLE_CACHE: "/dev/null/ferry" });
    expect(r).toEqual({ code: 2, stdout: "", stderr: "ferry: missing --source: pass --source URL or set FERRY_SOURCE_URL\n" });
  });

  test("a user who cannot write the checkout's cache (the EC2 runner's admin; ferry installed by root) still runs from a bundle, cached in their own ~/.cache", () => {
    // A checkout as the runner's user data makes it: root's, read-only to others, with
    // sources no bundle exists for yet (a marker file gives them a key of their own).
    const root = tempDir("ferry-ro-checkout");
    const project = resolve(__dirname, "../..");
    for (const entry of ["bin", "dataplane", "config", "package-lock.json", "package.json"]) cpSync(join(project, entry), join(root, entry), { recursive: true });
    writeFileSync(join(root, "dataplane", "zz-marker.ts"), `// ${randomBytes(8).toString("hex")}\n`);
    symlinkSync(join(project, "node_modules"), join(root, "node_modules"));
    chmodSync(root, 0o755);
    const home = tempDir("ferry-runner-home");
    chmodSync(home, 0o777);
    // Root ignores file modes: the runner's user is nobody here.
    const user = isRoot() ? { uid: 65534, gid: 65534 } : {};
    const r = spawnSync(process.execPath, [join(root, "bin", "ferry.js"), "pg", "verify"], { env: { PATH: process.env.PATH, HOME: home }, encoding: "utf8", timeout: 120_000, ...user });
    expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 2, stderr: "ferry: missing --source: pass --source URL or set FERRY_SOURCE_URL\n" });
    expect(existsSync(join(home, ".cache", "ferry", `ferry-${bundleKey(root)}.js`))).toBe(true);
  });
});
