// The site ferry's proxy stage takes over, read from `nginx -T` (every file nginx loads,
// each after a `# configuration file PATH:` line): the one file whose server blocks serve
// the app's hostnames, the addresses they listen on (plain and TLS) and the certificate
// they serve. The proxy replaces that whole file, so it must be one file; what cannot be
// read whole is left to the user with its reason.

/** A name Cloudflare can serve (server_name also takes `_`, localhost, wildcards, regexes). */
export const PUBLIC_HOSTNAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** What ferry:source.nginx holds, as the box's own nginx says it. */
export interface NginxSite {
  siteConf: string;
  listen: string[];
  sslListen: string[];
  sslCertificate: string;
  sslCertificateKey: string;
}

interface ServerBlock {
  file: string;
  names: string[];
  /** Each `listen` directive's words. */
  listens: string[][];
  sslCertificate?: string;
  sslCertificateKey?: string;
}

/** A directive's words, or a block's name and words when `open`; `close` ends a block. */
type Token = { kind: "directive" | "open"; words: string[] } | { kind: "close" };

/** Directives and block edges, comments dropped; quotes kept out of the words. */
function tokens(text: string): Token[] {
  const out: Token[] = [];
  let words: string[] = [];
  for (const m of text.matchAll(/#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"'#]+)/g)) {
    if (m[0].startsWith("#")) continue;
    if (m[3] === "{") out.push({ kind: "open", words });
    else if (m[3] === ";") out.push({ kind: "directive", words });
    else if (m[3] === "}") out.push({ kind: "close" });
    else {
      words.push(m[1] ?? m[2] ?? m[4]);
      continue;
    }
    words = [];
  }
  return out;
}

/** `nginx -T`'s output, file by file. */
export function configFiles(output: string): { file: string; text: string }[] {
  const parts = output.split(/^# configuration file (.+):$/m);
  const files: { file: string; text: string }[] = [];
  for (let i = 1; i < parts.length; i += 2) files.push({ file: parts[i].trim(), text: parts[i + 1] });
  return files;
}

/** The http server blocks of one file (not a stream's or mail's), with what they inherit inside the file. */
function serverBlocks(file: string, text: string): ServerBlock[] {
  const blocks: ServerBlock[] = [];
  // Each open context: its name and the TLS directives set in it (a server inherits its http's).
  const stack: { name: string; cert?: string; key?: string; server?: ServerBlock }[] = [{ name: "" }];
  for (const t of tokens(text)) {
    const context = stack[stack.length - 1];
    if (t.kind === "close") {
      const closed = stack.pop();
      if (closed?.server) {
        const inherited = [...stack].reverse();
        closed.server.sslCertificate ??= inherited.find((c) => c.cert)?.cert;
        closed.server.sslCertificateKey ??= inherited.find((c) => c.key)?.key;
        blocks.push(closed.server);
      }
      if (stack.length === 0) stack.push({ name: "" });
      continue;
    }
    const [name, ...args] = t.words;
    if (t.kind === "open") {
      const inOtherProtocol = stack.some((c) => c.name === "stream" || c.name === "mail");
      const server = name === "server" && !inOtherProtocol ? { file, names: [], listens: [] } : undefined;
      stack.push({ name, server });
      continue;
    }
    const server = context.server;
    if (name === "ssl_certificate") {
      if (server) server.sslCertificate ??= args[0];
      else context.cert ??= args[0];
    } else if (name === "ssl_certificate_key") {
      if (server) server.sslCertificateKey ??= args[0];
      else context.key ??= args[0];
    } else if (server && name === "server_name") {
      server.names.push(...args);
    } else if (server && name === "listen" && args.length) {
      server.listens.push(args);
    }
  }
  return blocks;
}

/** What ferry:source.nginx takes: [address:]port, and absolute paths of plain characters. */
const PORT_ADDRESS = /^(\S+:)?\d{1,5}$/;
const PATH = /^\/[A-Za-z0-9._/-]+$/;

/** A listen directive's address with its port (nginx's default is 80), and whether it is TLS. */
function listenOf([address, ...flags]: string[]): { address: string; ssl: boolean } {
  const withPort = /^\d+$/.test(address) || address.includes(":") ? address : `${address}:80`;
  return { address: withPort, ssl: flags.includes("ssl") };
}

const unique = (xs: string[]) => [...new Set(xs)];

/**
 * The site serving `hostnames`, or why it cannot be taken as one: the file must be one,
 * listen on TLS, and serve one certificate (the proxy block serves one).
 */
export function siteOf(output: string, hostnames: string[]): { site: NginxSite } | { reason: string } {
  const blocks = configFiles(output).flatMap(({ file, text }) => serverBlocks(file, text));
  const files = unique(blocks.filter((b) => b.names.some((n) => hostnames.includes(n))).map((b) => b.file));
  if (files.length === 0) return { reason: "no server block names the hostnames" };
  if (files.length > 1) return { reason: `the hostnames are served from several files (${files.join(", ")}); the proxy replaces one` };
  const [file] = files;
  const site = blocks.filter((b) => b.file === file);
  // A server without listen answers on 80 (nginx's default when run as root).
  const listens = site.flatMap((b) => (b.listens.length ? b.listens.map(listenOf) : [{ address: "80", ssl: false }]));
  const odd = listens.find((l) => !PORT_ADDRESS.test(l.address));
  if (odd) return { reason: `${file} listens on ${odd.address}, not an [address:]port` };
  const tls = site.filter((b) => b.listens.some((l) => l.includes("ssl")));
  const [cert, key] = [tls[0]?.sslCertificate, tls[0]?.sslCertificateKey];
  if (!cert || !key) return { reason: `${file} serves no TLS (listen ... ssl with ssl_certificate and ssl_certificate_key)` };
  if (tls.some((b) => b.sslCertificate !== cert || b.sslCertificateKey !== key)) return { reason: `${file} serves more than one certificate; the proxy block serves one` };
  const odder = [file, cert, key].find((p) => !PATH.test(p));
  if (odder) return { reason: `${odder} is not an absolute path of letters, digits and ._/-` };
  return {
    site: {
      siteConf: file,
      listen: unique(listens.filter((l) => !l.ssl).map((l) => l.address)),
      sslListen: unique(listens.filter((l) => l.ssl).map((l) => l.address)),
      sslCertificate: cert,
      sslCertificateKey: key,
    },
  };
}
