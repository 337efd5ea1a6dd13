// The rendered proxy config: bad options fail with the flag's name, and the
// --standalone nginx.conf is a complete config a real nginx runs and proxies with.
import { describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, isRoot, onExit, portOpen, run, tempDir, waitFor } from "../../../rehearsal/servers";
import { renderProxyBlock } from "../../../dataplane/traffic/proxy-config";
import { startNewApp } from "./new-app";
import { runFerry } from "./run-ferry";

describe("ferry proxy render", () => {
  test("verifies the origin's certificate against the given CA, by the given name", () => {
    const text = renderProxyBlock({ origin: "https://203.0.113.7:8443", originServerName: "social.example", originCa: "/etc/ferry/ca.pem" });
    expect(text).toContain("proxy_pass https://203.0.113.7:8443;");
    expect(text).toContain("proxy_ssl_verify on;");
    expect(text).toContain("proxy_ssl_server_name on;");
    expect(text).toContain("proxy_ssl_name social.example;");
    expect(text).toContain("proxy_ssl_trusted_certificate /etc/ferry/ca.pem;");
    expect(text).toContain("listen 80;");
  });

  test("serves TLS itself on 443 when given the old host's certificate", () => {
    const text = renderProxyBlock({ origin: "https://new.example", sslCertificate: "/etc/le/full.pem", sslCertificateKey: "/etc/le/key.pem" });
    expect(text).toContain("listen 443 ssl;");
    expect(text).toContain("ssl_certificate /etc/le/full.pem;");
  });

  test.each([
    [["--origin", "ftp://x"], "ferry: --origin must be https:// (got ftp://)"],
    [["--origin", "https://new.example/app"], "ferry: --origin must be scheme://host[:port] with no path or query: https://new.example/app"],
    [["--origin", "https://user:pw@new.example"], "ferry: --origin must not carry credentials"],
    [["--origin", "http://10.1.2.3"], "ferry: --origin http://10.1.2.3 is plaintext http to another machine; use https:// (or pass --allow-plaintext-origin on a private network)"],
    [["--origin", "https://n.example", "--listen", "eighty"], 'ferry: --listen must be PORT or ADDRESS:PORT (e.g. 443, 127.0.0.1:8080, [::]:443): "eighty"'],
    [["--origin", "https://n.example", "--listen", "70000"], "ferry: --listen port must be 1-65535: 70000"],
    [["--origin", "https://n.example", "--server-name", "a.example; evil"], 'ferry: --server-name has an invalid name: "a.example;"'],
    [["--origin", "https://n.example", "--origin-ca", "relative.pem"], "ferry: --origin-ca must be an absolute path: relative.pem"],
    [["--origin", "https://n.example", "--origin-ca", "/a b.pem"], 'ferry: --origin-ca must be one word without spaces, quotes, braces, \';\', \'#\' or \'$\': "/a b.pem"'],
    [["--origin", "https://n.example", "--ssl-certificate", "/c.pem"], "ferry: --ssl-certificate and --ssl-certificate-key go together"],
    [["--origin", "https://n.example", "--client-max-body-size", "lots"], "ferry: --client-max-body-size must be a size like 100m: lots"],
    [["--origin", "https://n.example", "--prefix", "/tmp"], "ferry: --prefix and --user need --standalone"],
  ])("bad input %j exits 2 with one line naming the flag", async (args, message) => {
    const r = await runFerry(["proxy", "render", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(message + "\n");
    expect(r.stdout).toBe("");
  });

  test("--json prints one object holding the config", async () => {
    const r = await runFerry(["--json", "proxy", "render", "--origin", "https://new.example"]);
    expect(r.code).toBe(0);
    expect(r.json<{ config: string }>().config).toBe(renderProxyBlock({ origin: "https://new.example", clientMaxBodySize: "100m", originCa: "/etc/ssl/certs/ca-certificates.crt" }));
  });

  test("--standalone is a complete nginx.conf that a real nginx runs as the proxy", async () => {
    const app = await startNewApp();
    const prefix = tempDir("standalone");
    const port = await freePort();
    const r = await runFerry([
      "proxy", "render", "--standalone", "--prefix", prefix, ...(isRoot() ? ["--user", "root"] : []),
      "--origin", `http://127.0.0.1:${app.port}`, "--listen", `127.0.0.1:${port}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const conf = join(prefix, "nginx.conf");
    writeFileSync(conf, r.stdout);
    await run("nginx", ["-t", "-p", prefix, "-c", conf]);
    const nginx = spawn("nginx", ["-g", "daemon off;", "-p", prefix, "-c", conf], { stdio: "ignore" });
    const stop = () => nginx.exitCode === null && nginx.kill("SIGKILL");
    onExit(stop);
    try {
      await waitFor("standalone nginx", () => portOpen(port), 10_000);
      const res = await fetch(`http://127.0.0.1:${port}/about`);
      expect(((await res.json()) as { app: string; url: string })).toMatchObject({ app: "new", url: "/about" });
    } finally {
      stop();
      await app.stop();
    }
  });
});
