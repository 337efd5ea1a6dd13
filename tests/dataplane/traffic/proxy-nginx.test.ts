// The old-host proxy against a REAL nginx: the old host serves its own site, `ferry
// proxy apply` switches it to proxy (HTTP + WebSocket) to a new app over verified TLS,
// a broken origin is refused by `nginx -t` without changing anything, and `ferry proxy
// revert` puts the old site back byte for byte.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { request } from "node:http";
import WebSocket from "ws";
import { startNginx, nginxMainContext, nginxHttpPaths, freePort, tempDir, waitFor, LocalNginx } from "../../../rehearsal/servers";
import { startNewApp, NewApp } from "./new-app";
import { makeTestCa } from "./test-ca";
import { runFerry } from "./run-ferry";

const PUBLIC_NAME = "famichiki.test";
const ORIGIN_NAME = "new-origin.test";
const OLD_SITE = `# the old host's own site\nserver {\n  listen 127.0.0.1:%PORT%;\n  location / { return 200 "old host\\n"; }\n}\n`;

let oldHost: LocalNginx;
let newApp: NewApp;
let port: number;
let siteFile: string;
let stateDir: string;
let caCert: string;
let wrongCaCert: string;
let oldSiteText: string;

function layoutFlags(): string[] {
  return ["--host", "local", "--conf-file", siteFile, "--state-dir", stateDir, "--nginx-prefix", oldHost.prefix, "--nginx-conf", oldHost.confPath];
}

function proxyFlags(origin: string, ca: string): string[] {
  return ["--origin", origin, "--origin-server-name", ORIGIN_NAME, "--origin-ca", ca, "--listen", `127.0.0.1:${port}`, "--server-name", PUBLIC_NAME];
}

interface Answer {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** node:http rather than fetch: fetch will not send a Host header of our choosing. */
function send(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: { host: PUBLIC_NAME, ...opts.headers } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

async function get(path = "/"): Promise<{ status: number; text: string }> {
  const { status, text } = await send(path);
  return { status, text };
}

/** Reload is asynchronous in nginx: wait until the host answers the way we expect. */
async function untilAnswer(check: (r: { status: number; text: string }) => boolean, what: string): Promise<void> {
  await waitFor(what, async () => check(await get()), 10_000);
}

function wsRoundTrip(path: string): Promise<{ hello: { url: string; headers: Record<string, string> }; echo: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host: PUBLIC_NAME } });
    let hello: { url: string; headers: Record<string, string> } | undefined;
    const timer = setTimeout(() => reject(new Error("no WebSocket answer within 5 s")), 5000);
    socket.on("message", (data) => {
      if (!hello) {
        hello = JSON.parse(data.toString());
        socket.send("toot");
      } else {
        clearTimeout(timer);
        socket.close();
        resolve({ hello, echo: data.toString() });
      }
    });
    socket.on("error", (err) => (clearTimeout(timer), reject(err)));
  });
}

beforeAll(async () => {
  const ca = await makeTestCa("origin");
  const wrongCa = await makeTestCa("impostor");
  caCert = ca.caCert;
  wrongCaCert = wrongCa.caCert;
  newApp = await startNewApp(await ca.issue(ORIGIN_NAME));
  port = await freePort();
  stateDir = join(tempDir("proxy-state"), "state");
  oldHost = await startNginx((prefix) => {
    mkdirSync(join(prefix, "sites"));
    siteFile = join(prefix, "sites", "mastodon");
    oldSiteText = OLD_SITE.replace("%PORT%", String(port));
    writeFileSync(siteFile, oldSiteText);
    return `${nginxMainContext(prefix)}\nevents {}\nhttp {\n${nginxHttpPaths(prefix)}\ninclude ${join(prefix, "sites")}/*;\n}\n`;
  }, port);
});

afterAll(async () => {
  await oldHost?.stop();
  await newApp?.stop();
});

describe("ferry proxy apply/revert on a real nginx", () => {
  test("the old host answers itself before the switch", async () => {
    expect(await get()).toEqual({ status: 200, text: "old host\n" });
  });

  test("nginx -t rejects an origin that does not resolve, and nothing changes", async () => {
    const r = await runFerry(["proxy", "apply", ...proxyFlags("https://no-such-origin.invalid", caCert), ...layoutFlags()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: proxy apply on local: nginx -t rejected the config, nothing changed: .*host not found in upstream/);
    expect(readFileSync(siteFile, "utf8")).toBe(oldSiteText);
    expect(readdirSync(stateDir)).toEqual([]); // no stale "kept" copy that would poison a later revert
    expect(await get()).toEqual({ status: 200, text: "old host\n" });
  });

  test("an origin whose certificate the trusted CA did not sign gets no traffic (502)", async () => {
    const r = await runFerry(["proxy", "apply", ...proxyFlags(`https://127.0.0.1:${newApp.port}`, wrongCaCert), ...layoutFlags()]);
    expect(r.code, r.stderr).toBe(0);
    await untilAnswer((res) => res.status === 502, "the proxy to refuse the impostor origin");
    expect(newApp.seen).toHaveLength(0);
    expect(readFileSync(join(oldHost.prefix, "error.log"), "utf8")).toMatch(/upstream SSL certificate verify error/);
  });

  test("with the right CA, HTTP reaches the new app with Host and X-Forwarded-* set", async () => {
    const r = await runFerry(["--json", "proxy", "apply", ...proxyFlags(`https://127.0.0.1:${newApp.port}`, caCert), ...layoutFlags()]);
    expect(r.code, r.stderr).toBe(0);
    // The first apply (the impostor one) kept the old site; this re-apply must not keep the proxy file instead.
    expect(r.json()).toEqual({ host: "local", confFile: siteFile, kept: "kept-earlier" });
    await untilAnswer((res) => res.status === 200 && res.text.includes('"app":"new"'), "the new app behind the proxy");

    const res = await send("/api/v1/timelines/home?limit=5", {
      method: "POST",
      headers: { "x-forwarded-for": "203.0.113.9", "content-type": "text/plain" },
      body: "status=hello",
    });
    expect(res.headers["x-served-by"]).toBe("new-app");
    const seen = JSON.parse(res.text) as { method: string; url: string; body: string; headers: Record<string, string> };
    expect(seen.method).toBe("POST");
    expect(seen.url).toBe("/api/v1/timelines/home?limit=5");
    expect(seen.body).toBe("status=hello");
    expect(seen.headers.host).toBe(PUBLIC_NAME);
    expect(seen.headers["x-real-ip"]).toBe("127.0.0.1");
    expect(seen.headers["x-forwarded-for"]).toBe("203.0.113.9, 127.0.0.1");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers.connection).toBe("close");
  });

  test("a WebSocket (Mastodon streaming) is upgraded through the proxy and messages flow both ways", async () => {
    const { hello, echo } = await wsRoundTrip("/api/v1/streaming?stream=user");
    expect(hello.url).toBe("/api/v1/streaming?stream=user");
    expect(hello.headers.host).toBe(PUBLIC_NAME);
    expect(hello.headers.upgrade).toBe("websocket");
    expect(hello.headers["x-forwarded-proto"]).toBe("http");
    expect(echo).toBe("echo:toot");
  });

  test("a broken re-apply leaves the working proxy and the kept original alone", async () => {
    const proxyText = readFileSync(siteFile, "utf8");
    const r = await runFerry(["proxy", "apply", ...proxyFlags("https://no-such-origin.invalid", caCert), ...layoutFlags()]);
    expect(r.code).toBe(1);
    expect(readFileSync(siteFile, "utf8")).toBe(proxyText);
    expect(readdirSync(stateDir)).toEqual([siteFile.replace(/[^A-Za-z0-9._-]/g, "_") + ".previous"]);
    expect((await get()).text).toContain('"app":"new"');
  });

  test("revert puts the old site back byte for byte and the old host answers itself again", async () => {
    const r = await runFerry(["--json", "proxy", "revert", ...layoutFlags()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ host: "local", confFile: siteFile, action: "restored-previous-file" });
    expect(readFileSync(siteFile, "utf8")).toBe(oldSiteText);
    await untilAnswer((res) => res.text === "old host\n", "the old site after revert");
    expect(readdirSync(stateDir)).toEqual([]);

    const again = await runFerry(["--json", "proxy", "revert", ...layoutFlags()]);
    expect(again.code).toBe(0);
    expect(again.json()).toMatchObject({ action: "nothing-to-revert" });
  });

  test("a proxy file where there was none is removed by revert", async () => {
    const extra = join(oldHost.prefix, "sites", "ferry-extra.conf");
    const otherPort = await freePort();
    const flags = ["--host", "local", "--conf-file", extra, "--state-dir", stateDir, "--nginx-prefix", oldHost.prefix, "--nginx-conf", oldHost.confPath];
    const applied = await runFerry(["--json", "proxy", "apply", "--origin", `https://127.0.0.1:${newApp.port}`, "--origin-server-name", ORIGIN_NAME, "--origin-ca", caCert, "--listen", `127.0.0.1:${otherPort}`, ...flags]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.json()).toMatchObject({ kept: "no-previous-file" });
    await waitFor("the second proxy", async () => (await fetch(`http://127.0.0.1:${otherPort}/x`)).headers.get("x-served-by") === "new-app", 10_000);
    const reverted = await runFerry(["--json", "proxy", "revert", ...flags]);
    expect(reverted.json()).toMatchObject({ action: "removed-proxy-file" });
    expect(existsSync(extra)).toBe(false);
  });
});
