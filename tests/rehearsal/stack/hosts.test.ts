// The rehearsal's names in /etc/hosts: rehearsals side by side must not share a name,
// or one run's traffic reaches the other's stand-ins (the resolver takes the first line)
// and it reports its own acknowledged writes lost.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { rewriteInPlace, startHosts, withFileLock } from "../../../rehearsal/stack/hosts";

const HOSTS = "/etc/hosts";
const name = `staging-${randomBytes(4).toString("hex")}.rehearsal.invalid`;

function addLine(line: string): void {
  withFileLock(HOSTS, () => writeFileSync(HOSTS, `${readFileSync(HOSTS, "utf8").replace(/\n?$/, "\n")}${line}\n`));
}

afterEach(() => {
  withFileLock(HOSTS, () => writeFileSync(HOSTS, readFileSync(HOSTS, "utf8").split("\n").filter((l) => !l.includes(name)).join("\n")));
});

describe("the rehearsal's /etc/hosts names", () => {
  test("a name another live rehearsal maps is refused, naming it; the other run's line stays", () => {
    addLine(`127.66.1.2 ${name} # ferry rehearsal otherrun pid ${process.ppid}`);
    const hosts = startHosts("mine");
    try {
      expect(() => hosts.name(name, "127.77.1.2")).toThrow(
        new RegExp(`^${name.replace(/\./g, "\\.")} is named in /etc/hosts by another rehearsal running on this machine \\(run otherrun, pid ${process.ppid}\\)`),
      );
      expect(readFileSync(HOSTS, "utf8")).toContain(`127.66.1.2 ${name} # ferry rehearsal otherrun`);
      expect(hosts.resolve(name)).toBeUndefined();
    } finally {
      hosts.close();
    }
  });

  test("a line left by a rehearsal whose process is gone is dropped, and the name is ours", () => {
    const gone = spawnSync("sh", ["-c", "echo $$"]).stdout.toString().trim(); // a pid that has exited
    addLine(`127.66.1.3 ${name} # ferry rehearsal deadrun pid ${gone}`);
    const hosts = startHosts("mine");
    try {
      hosts.name(name, "127.77.1.3");
      const lines = readFileSync(HOSTS, "utf8").split("\n").filter((l) => l.includes(name));
      expect(lines).toEqual([`127.77.1.3 ${name} # ferry rehearsal mine pid ${process.pid}`]);
    } finally {
      hosts.close();
    }
    expect(readFileSync(HOSTS, "utf8")).not.toContain(name);
  });

  test("a line without a pid (an older ferry): alive while one of its run's addresses listens, dropped once none does", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.66.1.4", resolve));
    addLine(`127.66.1.4 ${name} # ferry rehearsal legacyrun`);
    addLine(`127.66.1.5 other-${name} # ferry rehearsal legacyrun`);
    const hosts = startHosts("mine");
    try {
      expect(() => hosts.name(name, "127.77.1.4")).toThrow(/by another rehearsal running on this machine \(run legacyrun\)/);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      hosts.name(name, "127.77.1.4");
      expect(readFileSync(HOSTS, "utf8").split("\n").filter((l) => l.includes(name))).toEqual([`127.77.1.4 ${name} # ferry rehearsal mine pid ${process.pid}`]);
    } finally {
      hosts.close();
    }
  });
});

describe("rewriting /etc/hosts while resolvers read it", () => {
  // A staging run had a read and a write fail with ENOTFOUND at provision: the file was
  // truncated, then written, and a lookup in between found nothing.
  test("a reader in another process never finds the file without the lines every version has", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "ferry-hosts-rewrite-")), "hosts");
    const stable = "127.0.0.1 localhost\n127.0.0.9 www.example.test # ferry rehearsal run pid 1\n";
    const versions = [stable, `${stable}${"127.0.0.10 extra.example.test # ferry rehearsal run pid 1\n".repeat(40)}`];
    writeFileSync(file, versions[0]);
    // As getaddrinfo does at every lookup: read the whole file, look for the name.
    const reader = spawn(process.execPath, ["-e", `
      const fs = require("fs"); const end = Date.now() + 1500; let reads = 0, missing = 0;
      while (Date.now() < end) { reads++; if (!fs.readFileSync(${JSON.stringify(file)}, "utf8").includes("www.example.test")) missing++; }
      console.log(JSON.stringify({ reads, missing }));`], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    reader.stdout.on("data", (d) => (out += d));
    const exited = new Promise((r) => reader.on("close", r));
    const end = Date.now() + 1700;
    for (let i = 0; Date.now() < end; i++) rewriteInPlace(file, versions[i % 2]);
    await exited;
    const { reads, missing } = JSON.parse(out) as { reads: number; missing: number };
    expect(reads).toBeGreaterThan(100);
    expect(missing).toBe(0);
  });
});
