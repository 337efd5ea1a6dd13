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

/** One nginx directive: its name, its arguments, and the directives of its block if it opens one. */
interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

/**
 * nginx's config grammar, enough for what ferry writes: words and quoted strings,
 * directives ended by `;`, blocks in braces, comments from `#` to the end of the line.
 */
function parseNginx(text: string): Directive[] {
  const tokens = text.replace(/#[^\n]*/g, "").match(/'[^']*'|"[^"]*"|[{};]|[^\s{};]+/g) ?? [];
  let i = 0;
  const block = (): Directive[] => {
    const out: Directive[] = [];
    while (i < tokens.length && tokens[i] !== "}") {
      const words: string[] = [];
      while (i < tokens.length && !["{", ";", "}"].includes(tokens[i])) words.push(tokens[i++].replace(/^(['"])(.*)\1$/, "$2"));
      const [name, ...args] = words;
      if (tokens[i] === "{") {
        i++;
        out.push({ name, args, block: block() });
        if (tokens[i++] !== "}") throw new Error(`unclosed block: ${name}`);
      } else if (tokens[i++] === ";") out.push({ name, args });
      else throw new Error(`directive without ';': ${words.join(" ")}`);
    }
    return out;
  };
  const parsed = block();
  if (i !== tokens.length) throw new Error("stray '}'");
  return parsed;
}

/** The one directive named `name` in `block` (fails the test if there are none or several). */
function only(block: Directive[] | undefined, name: string, ...args: string[]): Directive {
  const found = (block ?? []).filter((d) => d.name === name && args.every((a, k) => d.args[k] === a));
  expect(found, `${name} ${args.join(" ")}`).toHaveLength(1);
  return found[0];
}

/** Each directive of a block (not nested ones) as "name args": how nginx reads the block. */
const settings = (block: Directive[] | undefined) => (block ?? []).filter((d) => !d.block).map((d) => [d.name, ...d.args].join(" "));

/** The server block and its `location /`, as nginx reads them from a rendered config. */
function proxySite(text: string): { server: Directive[]; location: Directive[] } {
  const server = only(parseNginx(text), "server").block!;
  return { server, location: only(server, "location", "/").block! };
}

describe("ferry proxy render", () => {
  test("verifies the origin's certificate against the given CA, by the given name", () => {
    const { server, location } = proxySite(renderProxyBlock({ origin: "https://203.0.113.7:8443", originServerName: "social.example", originCa: "/etc/ferry/ca.pem" }));
    expect(settings(server).filter((d) => d.startsWith("listen "))).toEqual(["listen 80"]);
    expect(settings(location)).toEqual(expect.arrayContaining([
      "proxy_pass https://203.0.113.7:8443",
      "proxy_ssl_verify on",
      "proxy_ssl_server_name on",
      "proxy_ssl_name social.example",
      "proxy_ssl_trusted_certificate /etc/ferry/ca.pem",
    ]));
  });

  test("serves TLS itself on 443 when given the old host's certificate", () => {
    const { server } = proxySite(renderProxyBlock({ origin: "https://new.example", sslCertificate: "/etc/le/full.pem", sslCertificateKey: "/etc/le/key.pem" }));
    expect(settings(server)).toEqual(expect.arrayContaining(["listen 443 ssl", "ssl_certificate /etc/le/full.pem", "ssl_certificate_key /etc/le/key.pem"]));
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

  test("--json prints one object holding the config: the defaults, a verified TLS origin", async () => {
    const r = await runFerry(["--json", "proxy", "render", "--origin", "https://new.example"]);
    expect(r.code).toBe(0);
    expect(Object.keys(r.json<object>())).toEqual(["config"]);
    const config = r.json<{ config: string }>().config;
    expect(settings(parseNginx(config))).toEqual([]);
    expect(only(parseNginx(config), "map", "$http_upgrade", "$ferry_connection_upgrade").block!.map((d) => [d.name, ...d.args])).toEqual([["default", "upgrade"], ["", "close"]]);
    const { server, location } = proxySite(config);
    expect(settings(server)).toEqual(["listen 80", "server_name _", "client_max_body_size 100m"]);
    expect(settings(location)).toEqual([
      "proxy_pass https://new.example:443",
      "proxy_http_version 1.1",
      "proxy_set_header Host $host",
      "proxy_set_header X-Real-IP $remote_addr",
      "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
      "proxy_set_header X-Forwarded-Proto $scheme",
      "proxy_set_header Upgrade $http_upgrade",
      "proxy_set_header Connection $ferry_connection_upgrade",
      "proxy_ssl_server_name on",
      "proxy_ssl_name new.example",
      "proxy_ssl_verify on",
      "proxy_ssl_verify_depth 3",
      "proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt",
      "proxy_ssl_protocols TLSv1.2 TLSv1.3",
      "proxy_ssl_session_reuse on",
      "proxy_connect_timeout 10s",
      "proxy_send_timeout 1h",
      "proxy_read_timeout 1h",
      "proxy_buffering off",
      "proxy_request_buffering off",
      "proxy_redirect off",
    ]);
    // The same config as the plain output.
    expect(config).toBe((await runFerry(["proxy", "render", "--origin", "https://new.example"])).stdout);
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
