// The machines of a rehearsal: each stand-in host (the RDS instance, the load balancer,
// the old box, Cloudflare's edge) gets an address of its own on the loopback network
// (127.0.0.0/8), so every service listens on its real port (5432, 6379, 80, 443, 22)
// and the program's own URLs and command lines work unchanged. Names the program or
// its commands resolve (the load balancer's DNS name, the user's hostnames) go into a
// marked block of /etc/hosts for the run, removed at exit.
import { randomInt } from "node:crypto";
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { onExit } from "../servers";

const HOSTS_FILE = "/etc/hosts";
const LOCK_FILE = `${HOSTS_FILE}.ferry-lock`;

/**
 * Rehearsals running side by side (CI runs several) each rewrite their own block: an
 * exclusive lock file (O_EXCL) keeps one read-modify-write from undoing another's; a
 * lock older than 10 s is a crashed holder's and is broken.
 */
function withHostsLock(fn: () => void): void {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      closeSync(openSync(LOCK_FILE, "wx"));
      break;
    } catch {
      try {
        if (Date.now() - statSync(LOCK_FILE).mtimeMs > 10_000) unlinkSync(LOCK_FILE);
      } catch {
        // released meanwhile
      }
      if (Date.now() > deadline) throw new Error(`${LOCK_FILE} is held: another rehearsal is writing ${HOSTS_FILE}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    fn();
  } finally {
    unlinkSync(LOCK_FILE);
  }
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

export function startHosts(runId: string): Hosts {
  const marker = `# ferry rehearsal ${runId}`;
  const table: Hosts["table"] = [];
  const names = new Map<string, string>();
  const rewrite = () =>
    withHostsLock(() => {
      const kept = readFileSync(HOSTS_FILE, "utf8").split("\n").filter((l) => !l.endsWith(marker));
      const ours = [...names].map(([n, a]) => `${a} ${n} ${marker}`);
      // /etc/hosts may be a bind mount (containers): write it in place, never rename over it.
      writeFileSync(HOSTS_FILE, [...kept.filter((l, i) => l !== "" || i < kept.length - 1), ...ours, ""].join("\n"));
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
        throw new Error(`the stack rehearsal names its stand-ins in ${HOSTS_FILE} and cannot write it (${(e as Error).message}): run it as root`);
      }
    },
    resolve(nameOrAddress) {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(nameOrAddress)) return nameOrAddress;
      return names.get(nameOrAddress.toLowerCase());
    },
  };
}
