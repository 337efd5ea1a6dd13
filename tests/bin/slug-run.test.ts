// bin/slug-run for real: real slug tarballs, a real HTTP process started through the
// Procfile under the system's POSIX sh (dash on Debian), and each bad input giving one
// line and its exit code, with APP_DIR left as it was.
import { afterEach, describe, expect, test } from "vitest";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { freePort, isRoot, tempDir, waitFor } from "../../rehearsal/servers";
import { buildSlug, procfileApp } from "./slugs";

const SLUG_RUN = resolve(__dirname, "../../bin/slug-run");
const started: ChildProcess[] = [];

afterEach(() => {
  // slug-run execs into the app: kill its whole process group (it was spawned detached).
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
});

/** Run slug-run to completion (for the failures): exit code and stderr. */
function slugRunFails(args: string[], env: NodeJS.ProcessEnv = {}, as?: { uid: number; gid: number }): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync("sh", [SLUG_RUN, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 30_000, ...as });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

async function fetchJson(port: number): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  return (await res.json()) as Record<string, unknown>;
}

describe("bin/slug-run", () => {
  test("starts the Procfile's process with PORT, DYNO, HOME=/app-like dir, .profile.d then .profile sourced", async () => {
    const slug = await buildSlug(procfileApp([
      "# web: node wrong.js",
      "worker: node -e 'setInterval(() => {}, 1000)'",
      "  web :  node server.js --listen=a:b:c  ",
      "",
    ].join("\n")));
    const appDir = join(tempDir("slug-app"), "app");
    const port = await freePort();
    const child = spawn("sh", [SLUG_RUN, slug.path, "web"], {
      env: { PATH: process.env.PATH, APP_DIR: appDir, PORT: String(port), SECRET_KEY_BASE: "skb-SECRET-value" },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    started.push(child);
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    await waitFor("the slug's web process to answer", async () => (await fetchJson(port)).port === String(port), 30_000);
    const seen = await fetchJson(port);
    expect(seen).toEqual({
      port: String(port),
      dyno: "web.1",
      home: appDir,
      // .profile ran `cd /`: the command still starts in the app directory, as on a dyno.
      cwd: appDir,
      fromProfileD: "yes",
      order: "profile.d/10,profile.d/20,.profile",
      secretSet: true,
      // Split on the first ':' only; both sides trimmed.
      argv: ["--listen=a:b:c"],
    });
    expect(existsSync(join(appDir, "Procfile"))).toBe(true);
    // Nothing from the environment is echoed.
    expect(output).not.toContain("SECRET");
  });

  test("PORT defaults to 5000 and DYNO to TYPE.1 when the task sets neither", async () => {
    const slug = await buildSlug({ Procfile: "report: node -e 'process.stdout.write(process.env.PORT + \" \" + process.env.DYNO)'\n" });
    const appDir = join(tempDir("slug-app"), "app");
    const r = slugRunFails([slug.path, "report"], { APP_DIR: appDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("5000 report.1");
  });

  test("SLUG_COMMAND runs a one-off in the slug (a Scheduler job), after the profile scripts, as DYNO TYPE.1", async () => {
    const slug = await buildSlug(procfileApp("web: node server.js\n"));
    const appDir = join(tempDir("slug-app"), "app");
    const r = slugRunFails([slug.path, "scheduler"], { APP_DIR: appDir, SLUG_COMMAND: 'echo "$DYNO $ORDER $(pwd) ${SLUG_COMMAND:-unset}"' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`scheduler.1 profile.d/10,profile.d/20,.profile ${appDir} unset\n`);
  });

  test("profile scripts and the command run under bash, as a dyno's (bash syntax in both), however slug-run is started", async () => {
    // Heroku: "the container starts a bash shell that runs scripts in the .profile.d/
    // directory ... The scripts must be bash scripts" (https://devcenter.heroku.com/articles/profiled),
    // then runs the process command (https://devcenter.heroku.com/articles/dyno-startup-behavior).
    // Buildpacks' profile scripts use bash syntax: arrays, [[ ]], `source`, ${var//x/y}.
    const slug = await buildSlug({
      Procfile: 'report: parts=(a b c); [[ "${#parts[@]}" == 3 ]] && echo "cmd:${parts[1]} ${BASH_VERSION:+bash} $FROM_BASH_PROFILE"\n',
      ".profile.d/ruby.sh": 'dirs=(one two)\nif [[ -n "${dirs[1]}" ]]; then source "$HOME/.profile.d/extra.inc"; fi\n',
      ".profile.d/extra.inc": 'x="a-b-c"; export FROM_BASH_PROFILE="${x//-/+}"\n',
    });
    // The task's entry point, the rehearsal and the tests all start it through sh (dash here).
    const r = slugRunFails([slug.path, "report"], { APP_DIR: join(tempDir("slug-app"), "app") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("cmd:b bash a+b+c\n");
  });

  test("a process type the Procfile lacks: exit 78, one line listing the types it has", async () => {
    const slug = await buildSlug(procfileApp("web: node server.js\n# clock: bin/clock\nworker: bin/worker\n"));
    const appDir = join(tempDir("slug-app"), "app");
    const r = slugRunFails([slug.path, "clock"], { APP_DIR: appDir });
    expect(r.code).toBe(78);
    expect(r.stderr).toBe("slug-run: process type clock is not in the slug's Procfile (it has: web, worker)\n");
  });

  test("a corrupt tarball: exit 65, one line, APP_DIR left untouched", async () => {
    const slug = await buildSlug(procfileApp("web: node server.js\n"));
    const bytes = readFileSync(slug.path);
    const corrupt = join(tempDir("slug-bad"), "corrupt.tgz");
    writeFileSync(corrupt, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const appDir = join(tempDir("slug-app"), "app");
    const r = slugRunFails([corrupt, "web"], { APP_DIR: appDir });
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^slug-run: slug \S+corrupt\.tgz is not a readable gzip tar: .+\n$/);
    // Nothing left behind, not even the staging directory.
    expect(readdirSync(appDir)).toEqual([]);
  });

  test("not gzip at all, and a tar without ./app: exit 65 each", async () => {
    const junk = join(tempDir("slug-bad"), "junk.tgz");
    writeFileSync(junk, "this is not a slug\n");
    expect(slugRunFails([junk, "web"], { APP_DIR: join(tempDir("slug-app"), "app") }).code).toBe(65);

    const noApp = join(tempDir("slug-bad"), "noapp.tgz");
    const src = tempDir("slug-src");
    writeFileSync(join(src, "Procfile"), "web: x\n");
    spawnSync("tar", ["czf", noApp, "-C", src, "./Procfile"]);
    const r = slugRunFails([noApp, "web"], { APP_DIR: join(tempDir("slug-app"), "app") });
    expect(r.code).toBe(65);
    expect(r.stderr).toBe(`slug-run: slug ${noApp} has no ./app directory: not a Heroku slug\n`);
  });

  test("a missing slug, bad arguments, a non-empty APP_DIR: one line and the exit code each", async () => {
    const missing = slugRunFails(["/nonexistent/slug.tgz", "web"], { APP_DIR: join(tempDir("slug-app"), "app") });
    expect([missing.code, missing.stderr]).toEqual([66, "slug-run: slug /nonexistent/slug.tgz: no such file\n"]);

    const usage = slugRunFails(["only-one"]);
    expect(usage.code).toBe(64);
    expect(usage.stderr).toMatch(/^slug-run: usage: slug-run SLUG_TGZ PROCESS_TYPE/);

    const badType = slugRunFails(["/x.tgz", "web;rm -rf /"]);
    expect(badType.code).toBe(64);

    const slug = await buildSlug(procfileApp("web: node server.js\n"));
    const busy = tempDir("slug-busy");
    writeFileSync(join(busy, "keep.txt"), "data");
    const r = slugRunFails([slug.path, "web"], { APP_DIR: busy });
    expect(r.code).toBe(73);
    expect(r.stderr).toBe(`slug-run: APP_DIR ${busy} is not empty: a dyno starts from a fresh copy of the slug\n`);
    expect(readdirSync(busy)).toEqual(["keep.txt"]);
  });

  test("as a non-root user whose only writable place is APP_DIR (the task's /app volume on the stack image)", async () => {
    const slug = await buildSlug({ Procfile: "report: pwd\n" });
    const parent = tempDir("slug-ro");
    const appDir = join(parent, "app");
    mkdirSync(appDir);
    // World-readable slug, read-only parent, a world-writable APP_DIR (sticky, as the task prepares it).
    for (const dir of [parent, dirname(slug.path)]) chmodSync(dir, 0o755);
    chmodSync(appDir, 0o1777);
    chmodSync(parent, 0o555);
    // Root ignores modes: run as nobody when the tests run as root.
    const nobody = isRoot() ? { uid: 65534, gid: 65534 } : undefined;
    const r = slugRunFails([slug.path, "report"], { APP_DIR: appDir }, nobody);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${appDir}\n`);
  });
});
