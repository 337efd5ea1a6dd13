// The machines of a rehearsal: each stand-in host (the RDS instance, the load balancer,
// the old box, Cloudflare's edge) gets an address of its own on the loopback network
// (127.0.0.0/8), so every service listens on its real port (5432, 6379, 80, 443, 22)
// and the program's own URLs and command lines work unchanged. Names the program or
// its commands resolve (the load balancer's DNS name, the user's hostnames) go into a
// marked block of /etc/hosts for the run, removed at exit.
import { randomInt } from "node:crypto";
import { closeSync, ftruncateSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { onExit } from "../servers";

const HOSTS_FILE = "/etc/hosts";

/**
 * Rehearsals running side by side (CI runs several) each rewrite their own block of a
 * shared file: an exclusive lock file (O_EXCL) keeps one read-modify-write from undoing
 * another's; a lock older than 10 s is a crashed holder's and is broken.
 */
export function withFileLock(file: string, fn: () => void): void {
  const lockFile = `${file}.ferry-lock`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      closeSync(openSync(lockFile, "wx"));
      break;
    } catch {
      try {
        if (Date.now() - statSync(lockFile).mtimeMs > 10_000) unlinkSync(lockFile);
      } catch {
        // released meanwhile
      }
      if (Date.now() > deadline) throw new Error(`${lockFile} is held: another rehearsal is writing ${file}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    fn();
  } finally {
    unlinkSync(lockFile);
  }
}

function withHostsLock(fn: () => void): void {
  withFileLock(HOSTS_FILE, fn);
}

export interface Hosts {
  /** A fresh loopback address for a stand-in host (every port free on it). */
  allocate(label: string): Promise<string>;
  /** Make `name` resolve to `address` for this run. */
  name(name: string, address: string): void;
  /** What `name` resolves to in this run (a name, an address, or undefined). */
  resolve(nameOrAddress: string): string | undefined;
  /** Take this run's names out of /etc/hosts (also done at exit). */
  close(): void;
  /** Every address handed out, with its label (the report's host table). */
  readonly table: Array<{ label: string; address: string; names: string[] }>;
}

/** Whether `address` is free for a listener (nothing else bound to it or to 0.0.0.0 there). */
function bindable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, address, () => s.close(() => resolve(true)));
  });
}

/** Another rehearsal's line: `<address> <name> # ferry rehearsal <runId>[ pid <pid>]`. */
const REHEARSAL_LINE = /^\S+\s+(\S+)\s+# ferry rehearsal (\S+)(?: pid (\d+))?$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** IPv4 addresses with a listening TCP socket (/proc/net/tcp: hex little-endian address, state 0A). */
function listeningAddresses(): Set<string> {
  const out = new Set<string>();
  try {
    for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== "0A" || !local) continue;
      const hex = local.split(":")[0];
      out.add([3, 2, 1, 0].map((i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16)).join("."));
    }
  } catch {
    // not Linux: nothing known, every pid-less run counts as alive
    out.add("*");
  }
  return out;
}

/**
 * Lines of rehearsals whose process is gone are dropped (a killed run could not clean up).
 * A name another live rehearsal maps is refused: the system resolver takes the first
 * line, so both runs' traffic (the load generator's writes, the edge's origins) would
 * reach one run's stand-ins, and the other would report its own writes lost. A line
 * without a pid is from an older ferry: its run counts as alive while any of its
 * addresses has a listener (its stand-ins), and as gone otherwise.
 */
function keptLines(lines: string[], ownMarker: string, ourNames: Iterable<string>): string[] {
  const kept: string[] = [];
  const wanted = new Set(ourNames);
  const listening = listeningAddresses();
  const liveLegacyRuns = new Set<string>();
  for (const line of lines) {
    const m = REHEARSAL_LINE.exec(line);
    if (m && !m[3] && (listening.has("*") || listening.has(line.split(/\s+/)[0]))) liveLegacyRuns.add(m[2]);
  }
  for (const line of lines) {
    if (line.endsWith(ownMarker)) continue;
    const m = REHEARSAL_LINE.exec(line);
    // Gone, or an earlier run of this process that failed before it could clean up (a
    // process rehearses one stack at a time): stale.
    if (m && m[3] && (Number(m[3]) === process.pid || !alive(Number(m[3])))) continue;
    if (m && !m[3] && !liveLegacyRuns.has(m[2])) continue;
    if (m && wanted.has(m[1].toLowerCase())) {
      throw new HostNameTaken(`${m[1]} is named in ${HOSTS_FILE} by another rehearsal running on this machine (run ${m[2]}${m[3] ? `, pid ${m[3]}` : ""}): rehearsals of stacks that share hostnames cannot run side by side; wait for it to finish`);
    }
    kept.push(line);
  }
  return kept;
}

class HostNameTaken extends Error {}

/**
 * Replace a file's text in place, never leaving it empty: write the new text over the old
 * from the start, then cut what is left of the old. A resolver reading meanwhile (every
 * lookup reads /etc/hosts) sees the lines it always had; truncating first let a lookup
 * read an empty file and fail with ENOTFOUND. In place, because /etc/hosts may be a
 * bind mount (containers), which a rename cannot replace.
 */
export function rewriteInPlace(file: string, text: string): void {
  const fd = openSync(file, "r+");
  try {
    const bytes = Buffer.from(text, "utf8");
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written, written);
    ftruncateSync(fd, bytes.length);
  } finally {
    closeSync(fd);
  }
}

export function startHosts(runId: string): Hosts {
  const marker = `# ferry rehearsal ${runId} pid ${process.pid}`;
  const table: Hosts["table"] = [];
  const names = new Map<string, string>();
  const rewrite = () =>
    withHostsLock(() => {
      const kept = keptLines(readFileSync(HOSTS_FILE, "utf8").split("\n"), marker, names.keys());
      const ours = [...names].map(([n, a]) => `${a} ${n} ${marker}`);
      rewriteInPlace(HOSTS_FILE, [...kept.filter((l, i) => l !== "" || i < kept.length - 1), ...ours, ""].join("\n"));
    });
  const close = () => {
    names.clear();
    try {
      rewrite();
    } catch {
      // best effort
    }
  };
  onExit(close);
  return {
    table,
    close,
    async allocate(label) {
      for (let i = 0; i < 50; i++) {
        const address = `127.${randomInt(64, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
        if (table.some((t) => t.address === address)) continue;
        if (await bindable(address, 0)) {
          table.push({ label, address, names: [] });
          return address;
        }
      }
      throw new Error(`no free loopback address for ${label}`);
    },
    name(name, address) {
      if (names.get(name.toLowerCase()) === address) return;
      names.set(name.toLowerCase(), address);
      table.find((t) => t.address === address)?.names.push(name);
      try {
        rewrite();
      } catch (e) {
        if (e instanceof HostNameTaken) {
          names.delete(name.toLowerCase());
          throw e;
        }
        throw new Error(`the stack rehearsal names its stand-ins in ${HOSTS_FILE} and cannot write it (${(e as Error).message}): run it as root`);
      }
    },
    resolve(nameOrAddress) {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(nameOrAddress)) return nameOrAddress;
      return names.get(nameOrAddress.toLowerCase());
    },
  };
}
