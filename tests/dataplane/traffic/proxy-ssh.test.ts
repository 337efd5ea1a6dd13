// `ferry proxy apply|revert` over real SSH to a loopback sshd: the key travels in an
// environment variable (never argv), the host key is checked, and the switch and its
// revert behave as on a local host.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startNginx, nginxMainContext, nginxHttpPaths, freePort, tempDir, waitFor, LocalNginx } from "../../../rehearsal/servers";
import { execFileSync } from "node:child_process";
import { request as httpsRequest } from "node:https";
import { startNewApp, NewApp } from "./new-app";
import { startSshd, TestSshd } from "./sshd";
import { runFerry } from "./run-ferry";
import { makeTestCa } from "./test-ca";
import { traffic } from "../../../migrations/commands";

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

  test("--host-key trusts exactly the recorded key: no known_hosts needed (a new runner has none), any other key refused", async () => {
    const env = { FERRY_TEST_SSH_KEY: sshd.clientKey, HOME: tempDir("new-runner-home") };
    const withoutKnownHosts = flags().filter((f, i, all) => f !== "--known-hosts" && all[i - 1] !== "--known-hosts");
    const trusted = await runFerry(["--json", "proxy", "revert", ...withoutKnownHosts, "--host-key", sshd.hostKey], env);
    expect(trusted.stderr).not.toMatch(/Host key verification failed/);
    expect(trusted.code, trusted.stderr).toBe(0);

    const otherDir = tempDir("other-host-key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(otherDir, "key")]);
    const other = readFileSync(join(otherDir, "key.pub"), "utf8").trim();
    // Even beside a known_hosts that vouches for the real key: only the recorded one counts.
    const refused = await runFerry(["proxy", "revert", ...flags(), "--host-key", other], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ferry: ssh to .* failed: .*Host key verification failed/);

    const bad = await runFerry(["proxy", "revert", ...withoutKnownHosts, "--host-key", "not a key"], env);
    expect([bad.code, bad.stderr]).toEqual([2, 'ferry: --host-key must be the host\'s public key, e.g. "ssh-ed25519 AAAAC3Nza...": "not a key"\n']);
  });

  test("a key variable that is not set is a bad input naming the flag", async () => {
    const r = await runFerry(["proxy", "revert", ...flags()], { FERRY_TEST_SSH_KEY: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: --ssh-key-env names FERRY_TEST_SSH_KEY, which is not set\n");
  });
});

/** The words a shell makes of a command line (the program's steps run through a shell). */
function shellWords(command: string): string[] {
  return execFileSync("bash", ["-c", 'eval "set -- $FERRY_CMD"; printf "%s\\0" "$@"'], { env: { ...process.env, FERRY_CMD: command } })
    .toString().split("\0").slice(0, -1);
}

describe("the proxy stage's own command line over SSH takes over the site's 80 and 443", () => {
  const NAME = "famichiki.test";
  let site: LocalNginx;
  let tlsApp: NewApp;
  let plainPort: number;
  let tlsPort: number;
  let file: string;
  let state: string;
  let ca: string;
  let cert: { cert: string; key: string };
  const siteText = () => `server { listen 127.0.0.1:${plainPort}; location / { return 301 https://$host$request_uri; } }
server { listen 127.0.0.1:${tlsPort} ssl; ssl_certificate ${cert.cert}; ssl_certificate_key ${cert.key}; location / { return 200 "old app over tls\\n"; } }
`;
  const overTls = () => new Promise<{ text: string; servedBy?: string }>((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port: tlsPort, path: "/", servername: NAME, headers: { host: NAME }, ca: readFileSync(ca) }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ text, servedBy: res.headers["x-served-by"] as string | undefined }));
    });
    req.on("error", reject);
    req.end();
  });

  beforeAll(async () => {
    const testCa = await makeTestCa("ssh-site");
    ca = testCa.caCert;
    cert = await testCa.issue(NAME);
    tlsApp = await startNewApp(await testCa.issue(NAME));
    plainPort = await freePort();
    tlsPort = await freePort();
    state = join(tempDir("proxy-ssh-site-state"), "state");
    site = await startNginx((prefix) => {
      mkdirSync(join(prefix, "sites"));
      file = join(prefix, "sites", "mastodon");
      writeFileSync(file, siteText());
      return `${nginxMainContext(prefix)}\nevents {}\nhttp {\n${nginxHttpPaths(prefix)}\ninclude ${join(prefix, "sites")}/*;\n}\n`;
    }, tlsPort);
  });

  afterAll(async () => {
    await site?.stop();
    await tlsApp?.stop();
  });

  test("apply, then the stage's delete (revert), exactly as the program writes them", async () => {
    const host = { ssh: `${sshd.user}@127.0.0.1:${sshd.port}`, sudo: false, hostKey: sshd.hostKey };
    const oldSite = { confFile: file, listen: [`127.0.0.1:${plainPort}`], sslListen: [`127.0.0.1:${tlsPort}`], sslCertificate: cert.cert, sslCertificateKey: cert.key };
    // What a real old box has and the test box lacks: its nginx paths and the CA bundle. Its
    // host key is in the program's own line (--host-key), so no known_hosts is needed.
    const local = ["--state-dir", state, "--nginx-prefix", site.prefix, "--nginx-conf", site.confPath];
    const env = { FERRY_SSH_KEY: sshd.clientKey };
    const apply = shellWords(traffic.proxyApply(host, { origin: `https://127.0.0.1:${tlsApp.port}`, serverName: NAME, originServerName: NAME, site: oldSite }));
    expect(apply.slice(0, 4)).toEqual(["ferry", "--json", "proxy", "apply"]);
    const applied = await runFerry([...apply.slice(1), ...local, "--origin-ca", ca], env);
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor("443 proxied to the new app over ssh", async () => (await overTls()).servedBy === "new-app", 10_000);
    // nginx's old workers finish their requests after the reload: wait for the new config on 80 too.
    await waitFor("80 proxied to the new app over ssh", async () => (await fetch(`http://127.0.0.1:${plainPort}/`, { redirect: "manual" })).headers.get("x-served-by") === "new-app", 10_000);

    const revert = shellWords(traffic.proxyRevert(host, oldSite));
    const reverted = await runFerry([...revert.slice(1), ...local], env);
    expect(reverted.code, reverted.stderr).toBe(0);
    expect(reverted.json()).toMatchObject({ action: "restored-previous-file" });
    expect(readFileSync(file, "utf8")).toBe(siteText());
    await waitFor("443 back to the old app", async () => (await overTls()).text === "old app over tls\n", 10_000);
  });
});
