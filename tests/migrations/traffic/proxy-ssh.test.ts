// `ferry proxy apply|revert` over real SSH to a loopback sshd: the key travels in an
// environment variable (never argv), the host key is checked, and the switch and its
// revert behave as on a local host.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startNginx, nginxMainContext, nginxHttpPaths, freePort, tempDir, waitFor, LocalNginx } from "../../../rehearsal/servers";
import { startNewApp, NewApp } from "./new-app";
import { startSshd, TestSshd } from "./sshd";
import { runFerry } from "./run-ferry";

let sshd: TestSshd;
let oldHost: LocalNginx;
let newApp: NewApp;
let port: number;
let siteFile: string;
let stateDir: string;
const OLD_SITE = (p: number) => `server { listen 127.0.0.1:${p}; location / { return 200 "old host over ssh\\n"; } }\n`;

function flags(extra: string[] = []): string[] {
  return [
    "--host", `${sshd.user}@127.0.0.1:${sshd.port}`,
    "--ssh-key-env", "FERRY_TEST_SSH_KEY",
    "--known-hosts", sshd.knownHosts,
    "--conf-file", siteFile,
    "--state-dir", stateDir,
    "--nginx-prefix", oldHost.prefix,
    "--nginx-conf", oldHost.confPath,
    ...extra,
  ];
}

const body = async () => (await fetch(`http://127.0.0.1:${port}/`)).text();

beforeAll(async () => {
  sshd = await startSshd();
  newApp = await startNewApp();
  port = await freePort();
  stateDir = join(tempDir("proxy-ssh-state"), "state");
  oldHost = await startNginx((prefix) => {
    mkdirSync(join(prefix, "sites"));
    siteFile = join(prefix, "sites", "site.conf");
    writeFileSync(siteFile, OLD_SITE(port));
    return `${nginxMainContext(prefix)}\nevents {}\nhttp {\n${nginxHttpPaths(prefix)}\ninclude ${join(prefix, "sites")}/*;\n}\n`;
  }, port);
});

afterAll(async () => {
  await oldHost?.stop();
  await newApp?.stop();
  sshd?.stop();
});

describe("ferry proxy over SSH", () => {
  test("apply then revert, with the key from an environment variable", async () => {
    const env = { FERRY_TEST_SSH_KEY: sshd.clientKey };
    const applied = await runFerry(["--json", "proxy", "apply", ...flags(["--origin", `http://127.0.0.1:${newApp.port}`, "--listen", `127.0.0.1:${port}`])], env);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.json()).toEqual({ host: `${sshd.user}@127.0.0.1:${sshd.port}`, confFile: siteFile, kept: "previous-file" });
    await waitFor("the proxy over ssh", async () => (await body()).includes('"app":"new"'), 10_000);

    const reverted = await runFerry(["--json", "proxy", "revert", ...flags()], env);
    expect(reverted.code, reverted.stderr).toBe(0);
    expect(reverted.json()).toMatchObject({ action: "restored-previous-file" });
    expect(readFileSync(siteFile, "utf8")).toBe(OLD_SITE(port));
    await waitFor("the old site after revert", async () => (await body()) === "old host over ssh\n", 10_000);
  });

  test("an unknown host key is refused (no trust on first use)", async () => {
    const emptyKnownHosts = join(tempDir("kh"), "known_hosts");
    writeFileSync(emptyKnownHosts, "");
    const r = await runFerry(["proxy", "revert", ...flags(["--known-hosts", emptyKnownHosts])], { FERRY_TEST_SSH_KEY: sshd.clientKey });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: ssh to .* failed: .*Host key verification failed/);
  });

  test("a key variable that is not set is a bad input naming the flag", async () => {
    const r = await runFerry(["proxy", "revert", ...flags()], { FERRY_TEST_SSH_KEY: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: --ssh-key-env names FERRY_TEST_SSH_KEY, which is not set\n");
  });
});
