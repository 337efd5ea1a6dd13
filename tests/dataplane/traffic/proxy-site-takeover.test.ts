// The proxy takes over the site's OWN file on a real nginx: a Mastodon-like site with a
// port-80 redirect block and a 443 TLS block. Writing a proxy block beside them would
// leave the 443 block serving the old app; `ferry proxy apply --conf-file <site>
// --listen 80 --ssl-listen 443 --ssl-certificate ...` replaces both, so plain and TLS
// requests reach the new app (over verified TLS), and revert brings both blocks back.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { startNginx, nginxMainContext, nginxHttpPaths, freePort, tempDir, waitFor, LocalNginx } from "../../../rehearsal/servers";
import { startNewApp, NewApp } from "./new-app";
import { makeTestCa } from "./test-ca";
import { runFerry } from "./run-ferry";

const PUBLIC_NAME = "famichiki.test";
const ORIGIN_NAME = "new-origin.test";

let oldHost: LocalNginx;
let newApp: NewApp;
let plainPort: number;
let tlsPort: number;
let siteFile: string;
let stateDir: string;
let caCert: string;
let siteCert: { cert: string; key: string };
let oldSiteText: string;

/** The site as Mastodon's nginx template lays it out: 80 redirects, 443 serves the app. */
function oldSite(): string {
  return `server {
  listen 127.0.0.1:${plainPort};
  server_name ${PUBLIC_NAME};
  location / { return 301 https://$host$request_uri; }
}
server {
  listen 127.0.0.1:${tlsPort} ssl;
  server_name ${PUBLIC_NAME};
  ssl_certificate ${siteCert.cert};
  ssl_certificate_key ${siteCert.key};
  location / { return 200 "old app over tls\\n"; }
}
`;
}

interface Answer { status: number; text: string; servedBy?: string }

function ask(tls: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const opts = { host: "127.0.0.1", port: tls ? tlsPort : plainPort, path: "/about", headers: { host: PUBLIC_NAME }, servername: PUBLIC_NAME, ca: readFileSync(caCert) };
    const req = (tls ? httpsRequest : httpRequest)(opts, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, servedBy: res.headers["x-served-by"] as string | undefined }));
    });
    req.on("error", reject);
    req.end();
  });
}

function takeoverFlags(): string[] {
  return [
    "--host", "local", "--conf-file", siteFile, "--state-dir", stateDir, "--nginx-prefix", oldHost.prefix, "--nginx-conf", oldHost.confPath,
    "--origin", `https://127.0.0.1:${newApp.port}`, "--origin-server-name", ORIGIN_NAME, "--origin-ca", caCert, "--server-name", PUBLIC_NAME,
    "--listen", `127.0.0.1:${plainPort}`, "--ssl-listen", `127.0.0.1:${tlsPort}`, "--ssl-certificate", siteCert.cert, "--ssl-certificate-key", siteCert.key,
  ];
}

beforeAll(async () => {
  const ca = await makeTestCa("site");
  caCert = ca.caCert;
  siteCert = await ca.issue(PUBLIC_NAME);
  newApp = await startNewApp(await ca.issue(ORIGIN_NAME));
  plainPort = await freePort();
  tlsPort = await freePort();
  stateDir = join(tempDir("takeover-state"), "state");
  oldHost = await startNginx((prefix) => {
    mkdirSync(join(prefix, "sites"));
    siteFile = join(prefix, "sites", "mastodon");
    oldSiteText = oldSite();
    writeFileSync(siteFile, oldSiteText);
    return `${nginxMainContext(prefix)}\nevents {}\nhttp {\n${nginxHttpPaths(prefix)}\ninclude ${join(prefix, "sites")}/*;\n}\n`;
  }, tlsPort);
});

afterAll(async () => {
  await oldHost?.stop();
  await newApp?.stop();
});

describe("ferry proxy apply takes over the site's own server blocks", () => {
  test("before: 80 redirects, 443 serves the old app", async () => {
    expect(await ask(false)).toMatchObject({ status: 301 });
    expect(await ask(true)).toMatchObject({ status: 200, text: "old app over tls\n" });
  });

  test("apply: both addresses reach the new app, 443 with the site's own certificate", async () => {
    const r = await runFerry(["--json", "proxy", "apply", ...takeoverFlags()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ host: "local", confFile: siteFile, kept: "previous-file" });
    await waitFor("443 proxied to the new app", async () => (await ask(true)).servedBy === "new-app", 10_000);
    const tls = await ask(true);
    expect(JSON.parse(tls.text).headers["x-forwarded-proto"]).toBe("https");
    expect(JSON.parse(tls.text).headers.host).toBe(PUBLIC_NAME);
    expect(await ask(false)).toMatchObject({ status: 200, servedBy: "new-app" });
    // One server block, on both addresses: nothing of the old site is left to answer.
    const text = readFileSync(siteFile, "utf8");
    expect(text.match(/^\s*server \{/gm)).toHaveLength(1);
    expect(text).toContain(`listen 127.0.0.1:${plainPort};`);
    expect(text).toContain(`listen 127.0.0.1:${tlsPort} ssl;`);
    expect(text).toContain("proxy_ssl_verify on;");
  });

  test("revert: the site's file comes back byte for byte, 443 serves the old app again", async () => {
    const r = await runFerry(["--json", "proxy", "revert", "--host", "local", "--conf-file", siteFile, "--state-dir", stateDir, "--nginx-prefix", oldHost.prefix, "--nginx-conf", oldHost.confPath]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(siteFile, "utf8")).toBe(oldSiteText);
    await waitFor("443 back to the old app", async () => (await ask(true)).text === "old app over tls\n", 10_000);
    expect(await ask(false)).toMatchObject({ status: 301 });
  });

  test("--ssl-listen without the site's certificate is refused, naming the flag", async () => {
    const r = await runFerry(["proxy", "render", "--origin", "https://new.example", "--ssl-listen", "443"]);
    expect([r.code, r.stderr.trim()]).toEqual([2, "ferry: --ssl-listen needs --ssl-certificate and --ssl-certificate-key"]);
  });
});
