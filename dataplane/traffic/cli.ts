// `ferry proxy render|apply|revert` and `ferry health`: the commands the Pulumi stages
// and the rehearsal run to move traffic through the old host and to gate each move.
import { Command, InvalidArgumentError } from "commander";
import { action, emit, FerryError, GlobalOptions } from "../cli/common";
import { ProxyOptions, renderProxyBlock, renderStandaloneConf, DEFAULT_ORIGIN_CA } from "./proxy-config";
import { parseHostKey, parseHostTarget, SshOptions } from "./remote-host";
import { applyProxy, revertProxy, NginxLayout, DEFAULT_LAYOUT } from "./proxy-switch";
import { runHealthGate, HealthGateResult, Attempt } from "./health-gate";

/** The proxy flags are the render options, one for one. */
type ProxyFlags = ProxyOptions;

interface LayoutFlags {
  host: string;
  confFile: string;
  stateDir: string;
  nginx: string;
  nginxConf?: string;
  nginxPrefix?: string;
  sshKeyEnv?: string;
  knownHosts?: string;
  hostKey?: string;
  sudo?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

function addProxyOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--origin <url>", "the new origin, https://host[:port]")
    .option("--listen <[addr:]port>", "plain HTTP address the proxy takes over, repeatable (default 80; with --ssl-certificate and no --ssl-listen these are TLS, default 443)", collect, [])
    .option("--ssl-listen <[addr:]port>", "TLS address the proxy takes over with --ssl-certificate, repeatable (the site's own 443)", collect, [])
    .option("--server-name <names>", "server_name (default _ = any)")
    .option("--origin-ca <file>", "CA bundle that must vouch for the origin's certificate", DEFAULT_ORIGIN_CA)
    .option("--origin-server-name <name>", "name to verify in the origin's certificate and send as SNI (default: the origin's host)")
    .option("--ssl-certificate <file>", "serve TLS on --listen with this certificate (the old host's own)")
    .option("--ssl-certificate-key <file>", "key for --ssl-certificate")
    .option("--client-max-body-size <size>", "largest request body passed on", "100m")
    .option("--allow-plaintext-origin", "accept an http:// origin on another machine (private networks only)");
}

function addLayoutOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--host <host>", 'the old host: "local" or user@host[:port] over SSH')
    .option("--conf-file <file>", "the nginx file the proxy block replaces (usually the site's own file)", DEFAULT_LAYOUT.confFile)
    .option("--state-dir <dir>", "where the replaced file is kept until revert (outside nginx's includes)", DEFAULT_LAYOUT.stateDir)
    .option("--nginx <bin>", "nginx binary on the host", DEFAULT_LAYOUT.nginx)
    .option("--nginx-conf <file>", "main nginx.conf (nginx -c), default nginx's own")
    .option("--nginx-prefix <dir>", "nginx prefix (nginx -p), default nginx's own")
    .option("--ssh-key-env <VAR>", "environment variable holding the SSH private key (default: the ssh agent)")
    .option("--known-hosts <file>", "known_hosts file with the host's key (default ~/.ssh/known_hosts)")
    .option("--host-key <key>", "the host's public key (ssh-ed25519 AAAA...): the only key trusted, whatever known_hosts says")
    .option("--sudo", "run on the host through sudo -n");
}

function proxyOptions(flags: ProxyFlags): ProxyOptions {
  return {
    origin: flags.origin,
    listen: flags.listen,
    sslListen: flags.sslListen,
    serverName: flags.serverName,
    originCa: flags.originCa,
    originServerName: flags.originServerName,
    sslCertificate: flags.sslCertificate,
    sslCertificateKey: flags.sslCertificateKey,
    clientMaxBodySize: flags.clientMaxBodySize,
    allowPlaintextOrigin: flags.allowPlaintextOrigin,
  };
}

function layoutOf(flags: LayoutFlags): NginxLayout {
  return { confFile: flags.confFile, stateDir: flags.stateDir, nginx: flags.nginx, nginxConf: flags.nginxConf, nginxPrefix: flags.nginxPrefix };
}

function sshOf(flags: LayoutFlags): SshOptions {
  return { keyEnv: flags.sshKeyEnv, knownHosts: flags.knownHosts, hostKey: flags.hostKey === undefined ? undefined : parseHostKey(flags.hostKey), sudo: flags.sudo };
}

function registerProxyCommands(program: Command): void {
  const proxy = program.command("proxy").description("turn the old host's nginx into a proxy to the new origin, and back");

  addProxyOptions(proxy.command("render").description("print the nginx config the old host switches to"))
    .option("--standalone", "print a complete nginx.conf instead of the http-context block")
    .option("--prefix <dir>", "with --standalone: keep pid, logs and temp files under this directory")
    .option("--user <user>", "with --standalone: the worker user")
    .action(
      action(async (flags: ProxyFlags & { standalone?: boolean; prefix?: string; user?: string }, command: Command) => {
        if (!flags.standalone && (flags.prefix || flags.user)) throw new FerryError("--prefix and --user need --standalone", 2);
        const config = flags.standalone
          ? renderStandaloneConf({ ...proxyOptions(flags), prefix: flags.prefix, user: flags.user })
          : renderProxyBlock(proxyOptions(flags));
        emit(globals(command), { config }, (r) => r.config);
      }),
    );

  addLayoutOptions(addProxyOptions(proxy.command("apply").description("install the proxy config on the old host: nginx -t, reload; keeps the replaced file for revert")))
    .action(
      action(async (flags: ProxyFlags & LayoutFlags, command: Command) => {
        const target = parseHostTarget(flags.host);
        const config = renderProxyBlock(proxyOptions(flags));
        const result = await applyProxy(target, layoutOf(flags), config, sshOf(flags));
        emit(globals(command), result, (r) => `proxy applied on ${r.host}: ${r.confFile} now proxies to ${flags.origin} (${describeKept(r.kept)})`);
      }),
    );

  addLayoutOptions(proxy.command("revert").description("put back exactly what proxy apply replaced: nginx -t, reload"))
    .action(
      action(async (flags: LayoutFlags, command: Command) => {
        const result = await revertProxy(parseHostTarget(flags.host), layoutOf(flags), sshOf(flags));
        emit(globals(command), result, (r) => `proxy revert on ${r.host}: ${r.action.replace(/-/g, " ")} (${r.confFile})`);
      }),
    );
}

function describeKept(kept: string): string {
  if (kept === "previous-file") return "the replaced file is kept for revert";
  if (kept === "no-previous-file") return "there was no file before; revert removes it";
  return "the original kept by the first apply is still kept for revert";
}

function positiveNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!value.trim() || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a number of seconds >= 0`);
    return n;
  };
}

function wholeNumber(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`${flag} must be a whole number >= ${min}`);
    return n;
  };
}

function regex(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(`--expect-body is not a valid regular expression: ${(err as Error).message}`);
  }
}

interface HealthFlags {
  url: string;
  times: number;
  interval: number;
  expectStatus?: number;
  expectBody?: RegExp;
  timeout: number;
  deadline: number;
}

function registerHealthCommand(program: Command): void {
  program
    .command("health")
    .description("pass only after N consecutive healthy answers; any failure resets the count")
    .requiredOption("--url <url>", "what to probe")
    .option("--times <n>", "consecutive healthy answers needed", wholeNumber("--times", 1), 3)
    .option("--interval <s>", "seconds between attempts", positiveNumber("--interval"), 2)
    .option("--expect-status <n>", "the healthy status (default: any 2xx)", wholeNumber("--expect-status", 100))
    .option("--expect-body <regex>", "the body must match", regex)
    .option("--timeout <s>", "seconds per request", positiveNumber("--timeout"), 5)
    .option("--deadline <s>", "give up after this many seconds", positiveNumber("--deadline"), 300)
    .action(
      action(async (flags: HealthFlags, command: Command) => {
        const opts = globals(command);
        const result = await runHealthGate({
          url: flags.url,
          times: flags.times,
          intervalMs: flags.interval * 1000,
          expectStatus: flags.expectStatus,
          expectBody: flags.expectBody,
          timeoutMs: flags.timeout * 1000,
          deadlineMs: flags.deadline * 1000,
          onAttempt: opts.json ? undefined : (a, n) => process.stderr.write(`ferry: health ${describeAttempt(a)} (${n}/${flags.times} in a row)\n`),
        });
        emit(opts, result, describeGate);
        return result.passed ? 0 : 1;
      }),
    );
}

function describeAttempt(a: Attempt): string {
  return a.healthy ? `ok ${a.status} in ${a.elapsedMs} ms` : `unhealthy: ${a.reason}`;
}

function describeGate(r: HealthGateResult): string {
  if (r.passed) return `health gate passed: ${r.required} healthy answers in a row from ${r.url} (${r.attempts} attempts, ${r.elapsedMs} ms)`;
  const last = r.last ? describeAttempt(r.last) : "no attempt completed";
  return `health gate FAILED at the deadline for ${r.url}: ${r.consecutive}/${r.required} in a row after ${r.attempts} attempts; last: ${last}`;
}

export function registerTrafficCommands(program: Command): void {
  registerProxyCommands(program);
  registerHealthCommand(program);
}
