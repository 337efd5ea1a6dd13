// The nginx config the OLD host switches to while traffic moves: every request and
// WebSocket (Mastodon's streaming API) is passed to the new origin over verified TLS,
// so the old box becomes a thin, reversible front door: clients that still resolve its
// address reach the new origin. Pure functions: the CLI, the rehearsal and the Pulumi program all
// render the same text from the same options.
import { FerryError } from "../cli/common";

export interface ProxyOptions {
  /** The new origin, `https://host[:port]` (http:// only with allowPlaintextOrigin). */
  origin: string;
  /**
   * `[addr:]port`s the server block listens on in plain HTTP; default 80. Without
   * sslListen but with a certificate, these are the TLS listens (default 443).
   */
  listen?: string[];
  /** `[addr:]port`s served with TLS (sslCertificate): the site's own 443, replaced rather than left serving the old app. */
  sslListen?: string[];
  /** server_name; default `_` (any name). */
  serverName?: string;
  /** CA bundle that must vouch for the origin's certificate. */
  originCa?: string;
  /** Name verified in (and sent as SNI to) the origin's certificate; default the origin's host. */
  originServerName?: string;
  /** Serve TLS on `listen` with this certificate and key (the old host's own). */
  sslCertificate?: string;
  sslCertificateKey?: string;
  /** Largest request body passed on (Mastodon media uploads need far more than nginx's 1m). */
  clientMaxBodySize?: string;
  /** Accept an http:// origin that is not on loopback: the traffic then crosses the network unencrypted. */
  allowPlaintextOrigin?: boolean;
}

export interface StandaloneOptions extends ProxyOptions {
  /** Keep pid, logs and temp files under this directory (for a private nginx). */
  prefix?: string;
  /** The worker user (nginx's default is nobody). */
  user?: string;
}

/** Debian/Ubuntu's system CA bundle: public CAs vouch for a normal origin certificate. */
export const DEFAULT_ORIGIN_CA = "/etc/ssl/certs/ca-certificates.crt";

/** Long-lived streams (WebSockets, server-sent events) stay open this long without traffic. */
const STREAM_TIMEOUT = "1h";

/** The variable our map defines; prefixed so it cannot collide with a site's own `$connection_upgrade`. */
const UPGRADE_VAR = "$ferry_connection_upgrade";

function bad(message: string): never {
  throw new FerryError(message, 2);
}

/** A value nginx reads as one token: no whitespace, quotes, braces, semicolons or `$`. */
function nginxToken(value: string, flag: string): string {
  if (!value || /[\s;{}"'$\\#]/.test(value)) bad(`${flag} must be one word without spaces, quotes, braces, ';', '#' or '$': ${JSON.stringify(value)}`);
  return value;
}

function absolutePath(value: string, flag: string): string {
  nginxToken(value, flag);
  if (!value.startsWith("/")) bad(`${flag} must be an absolute path: ${value}`);
  return value;
}

export interface ParsedOrigin {
  scheme: "http" | "https";
  host: string;
  port: number;
  /** What proxy_pass gets: scheme://host:port, no path, so request URIs pass unchanged. */
  proxyPass: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

export function parseOrigin(origin: string, allowPlaintext = false): ParsedOrigin {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    bad(`--origin is not a valid URL: ${JSON.stringify(origin)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") bad(`--origin must be https:// (got ${url.protocol}//)`);
  if (url.username || url.password) bad("--origin must not carry credentials");
  if ((url.pathname && url.pathname !== "/") || url.search || url.hash) {
    bad(`--origin must be scheme://host[:port] with no path or query: ${origin}`);
  }
  const scheme = url.protocol === "https:" ? "https" : "http";
  if (scheme === "http" && !allowPlaintext && !LOOPBACK.test(url.hostname)) {
    bad(`--origin ${origin} is plaintext http to another machine; use https:// (or pass --allow-plaintext-origin on a private network)`);
  }
  const host = url.hostname;
  if (!/^[A-Za-z0-9.\-[\]:]+$/.test(host)) bad(`--origin has an invalid host: ${host}`);
  const port = url.port ? Number(url.port) : scheme === "https" ? 443 : 80;
  return { scheme, host, port, proxyPass: `${scheme}://${host}:${port}` };
}

/** `[addr:]port` -> the nginx `listen` argument. */
export function parseListen(listen: string): string {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|\*):)?(\d{1,5})$/.exec(listen);
  if (!m) bad(`--listen must be PORT or ADDRESS:PORT (e.g. 443, 127.0.0.1:8080, [::]:443): ${JSON.stringify(listen)}`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) bad(`--listen port must be 1-65535: ${port}`);
  return m[1] ? `${m[1]}:${port}` : String(port);
}

function serverNames(value: string): string {
  const names = value.split(/[\s,]+/).filter(Boolean);
  if (names.length === 0) bad("--server-name is empty");
  for (const n of names) {
    if (!/^(_|\*?[A-Za-z0-9.-]+\*?)$/.test(n)) bad(`--server-name has an invalid name: ${JSON.stringify(n)}`);
  }
  return names.join(" ");
}

function tlsListenLines(opts: ProxyOptions): string[] {
  if (!opts.sslCertificate && !opts.sslCertificateKey) return [];
  if (!opts.sslCertificate || !opts.sslCertificateKey) bad("--ssl-certificate and --ssl-certificate-key go together");
  return [
    `ssl_certificate ${absolutePath(opts.sslCertificate, "--ssl-certificate")};`,
    `ssl_certificate_key ${absolutePath(opts.sslCertificateKey, "--ssl-certificate-key")};`,
    "ssl_protocols TLSv1.2 TLSv1.3;",
    "ssl_session_cache shared:ferry_ssl:10m;",
    "ssl_session_tickets off;",
  ];
}

/** Verify the origin's certificate: without this a proxy to an IP would accept any impostor. */
function originTlsLines(origin: ParsedOrigin, opts: ProxyOptions): string[] {
  if (origin.scheme !== "https") return [];
  const name = opts.originServerName ? nginxToken(opts.originServerName, "--origin-server-name") : origin.host.replace(/^\[|\]$/g, "");
  return [
    "proxy_ssl_server_name on;",
    `proxy_ssl_name ${name};`,
    "proxy_ssl_verify on;",
    "proxy_ssl_verify_depth 3;",
    `proxy_ssl_trusted_certificate ${absolutePath(opts.originCa ?? DEFAULT_ORIGIN_CA, "--origin-ca")};`,
    "proxy_ssl_protocols TLSv1.2 TLSv1.3;",
    "proxy_ssl_session_reuse on;",
  ];
}

/** Indent every line (nested arrays are already-indented lines). */
function indent(lines: string[], depth: number): string[] {
  const pad = "  ".repeat(depth);
  return lines.flatMap((l) => l.split("\n")).map((l) => (l ? pad + l : l));
}

/**
 * The http-context text the old host includes: a map for the WebSocket upgrade and the
 * proxy server block. Throws FerryError (exit 2) naming the flag on any bad option.
 */
/**
 * The server block's listen lines. One block takes every address the site's own blocks
 * used (80 and 443): a block left behind on 443 would keep serving the old app.
 */
function listenLines(opts: ProxyOptions, tls: boolean): string[] {
  const given = (list?: string[]) => (list && list.length ? list : undefined);
  let plain: string[];
  let secure: string[];
  if (given(opts.sslListen)) {
    if (!tls) bad("--ssl-listen needs --ssl-certificate and --ssl-certificate-key");
    plain = opts.listen ?? [];
    secure = opts.sslListen!;
  } else if (tls) {
    plain = [];
    secure = given(opts.listen) ?? ["443"];
  } else {
    plain = given(opts.listen) ?? ["80"];
    secure = [];
  }
  const lines = [...plain.map((l) => `listen ${parseListen(l)};`), ...secure.map((l) => `listen ${parseListen(l)} ssl;`)];
  if (new Set(lines.map((l) => l.replace(/ ssl;$/, ";"))).size !== lines.length) bad("--listen/--ssl-listen name the same address twice");
  return lines;
}

export function renderProxyBlock(opts: ProxyOptions): string {
  const origin = parseOrigin(opts.origin, opts.allowPlaintextOrigin);
  const tls = tlsListenLines(opts);
  const listens = listenLines(opts, tls.length > 0);
  const bodySize = nginxToken(opts.clientMaxBodySize ?? "100m", "--client-max-body-size");
  if (!/^\d+[kKmMgG]?$/.test(bodySize)) bad(`--client-max-body-size must be a size like 100m: ${bodySize}`);

  const server = [
    ...listens,
    `server_name ${serverNames(opts.serverName ?? "_")};`,
    ...tls,
    `client_max_body_size ${bodySize};`,
    "",
    "location / {",
    ...indent(
      [
        `proxy_pass ${origin.proxyPass};`,
        "proxy_http_version 1.1;",
        "",
        "# The new app sees the public name and the real client, as it did on the old host.",
        "proxy_set_header Host $host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "",
        "# WebSocket upgrade (Mastodon streaming); plain requests get Connection: close.",
        "proxy_set_header Upgrade $http_upgrade;",
        `proxy_set_header Connection ${UPGRADE_VAR};`,
        "",
        ...originTlsLines(origin, opts),
        "",
        "# Streams stay open and flow through unbuffered; a dead origin fails fast.",
        "proxy_connect_timeout 10s;",
        `proxy_send_timeout ${STREAM_TIMEOUT};`,
        `proxy_read_timeout ${STREAM_TIMEOUT};`,
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        "proxy_redirect off;",
      ],
      1,
    ),
    "}",
  ];

  return [
    `# Written by ferry: this host now proxies to ${origin.proxyPass}.`,
    "# `ferry proxy revert` puts back exactly what was here before.",
    `map $http_upgrade ${UPGRADE_VAR} {`,
    "  default upgrade;",
    "  ''      close;",
    "}",
    "",
    "server {",
    ...indent(server, 1),
    "}",
    "",
  ]
    .join("\n")
    .replace(/\n\s*\n(\s*\n)+/g, "\n\n");
}

/** A complete nginx.conf around the proxy block (for a box with no nginx config of its own). */
export function renderStandaloneConf(opts: StandaloneOptions): string {
  const block = renderProxyBlock(opts);
  const prefix = opts.prefix ? absolutePath(opts.prefix.replace(/\/+$/, "") || "/", "--prefix") : undefined;
  const main = [
    opts.user ? `user ${nginxToken(opts.user, "--user")};` : "",
    "worker_processes auto;",
    prefix ? `pid ${prefix}/nginx.pid;` : "",
    prefix ? `error_log ${prefix}/error.log warn;` : "",
  ].filter(Boolean);
  const httpPaths = prefix
    ? ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((p) => `${p}_temp_path ${prefix}/${p};`).concat(`access_log ${prefix}/access.log;`)
    : [];
  return [
    "# Written by ferry: a complete nginx.conf for the old-host proxy.",
    ...main,
    "",
    "events {",
    "  worker_connections 4096;",
    "}",
    "",
    "http {",
    ...indent([...httpPaths, "server_tokens off;", "", ...block.trimEnd().split("\n")], 1),
    "}",
    "",
  ].join("\n");
}
