// Bucardo 5.6 as the people who move Heroku Postgres run it (PlanetScale's and Getsafe's
// write-ups): its control database on a server of its own where it may be a superuser
// (it needs PL/Perl, which Heroku does not offer), the source reached as the database
// owner Heroku hands out, one sync from source to target with a one-time copy.
//
// No password goes on a command line: the control database's are in a pgpass file (mode
// 0600) that the bucardo CLI and daemon read through PGPASSFILE; the source's and the
// target's are in Bucardo's own table, where `bucardo add db ... pass=` would put them.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { LocalPostgres, onExit, run, startPostgres, tempDir } from "../../rehearsal/servers";

const SYNC = "bench";

export interface Endpoint {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

export function endpointOf(url: string): Endpoint {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), database: u.pathname.slice(1), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/** A pgpass line; `:` and `` in a field are escaped as libpq asks. */
const pgpassLine = (e: Endpoint) =>
  [e.host, String(e.port), e.database, e.user, e.password].map((f) => f.replace(/([\\:])/g, "\\$1")).join(":");

export class Bucardo {
  private readonly env: NodeJS.ProcessEnv;
  private readonly pgpass: string;

  private constructor(private readonly control: LocalPostgres, private readonly dir: string, bucardoPassword: string) {
    // Only the control database's passwords: the CLI and the daemon reach it with these.
    this.pgpass = join(dir, "pgpass");
    writeFileSync(this.pgpass, [
      { host: "127.0.0.1", port: control.port, database: "*", user: "postgres", password: control.password },
      { host: "127.0.0.1", port: control.port, database: "*", user: "bucardo", password: bucardoPassword },
    ].map(pgpassLine).join("\n") + "\n", { mode: 0o600 });
    // Bucardo reads /etc/bucardorc (Debian's, with a password of its own) unless given a file.
    writeFileSync(join(dir, "bucardorc"), [
      "dbhost = 127.0.0.1", `dbport = ${control.port}`, "dbname = bucardo", "dbuser = bucardo", `piddir = ${dir}`,
    ].join("\n") + "\n");
    this.env = { ...process.env, PGPASSFILE: this.pgpass };
    delete this.env.PGPASSWORD;
  }

  /** A control cluster with the `bucardo` superuser that `bucardo install` expects. */
  static async start(): Promise<Bucardo> {
    const control = await startPostgres();
    const dir = tempDir("bucardo");
    const password = randomBytes(12).toString("hex");
    await control.query(`CREATE ROLE bucardo LOGIN SUPERUSER PASSWORD '${password}'`);
    const bucardo = new Bucardo(control, dir, password);
    onExit(() => bucardo.stopNow());
    return bucardo;
  }

  /** `bucardo <args>` with our rc file, run from its directory (it writes its reason files there). */
  async cli(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run("bucardo", ["--bucardorc", join(this.dir, "bucardorc"), ...args], { env: this.env, cwd: this.dir });
      return stdout;
    } catch (err) {
      throw new Error(`bucardo ${args[0]}: ${(err as Error).message.split("\n").filter(Boolean).slice(-2).join(" | ")}`);
    }
  }

  /** A fresh control database (outside any timing): the previous run's syncs and dbs gone. */
  async install(): Promise<void> {
    await this.control.query("DROP DATABASE IF EXISTS bucardo WITH (FORCE)");
    await this.cli("install", "--batch", "--dbhost", "127.0.0.1", "--dbport", String(this.control.port), "--dbuser", "postgres", "--dbname", "postgres", "--pid-dir", this.dir);
  }

  /**
   * Register source and target, every table and sequence of the source's public schema,
   * and one sync with a one-time copy (this installs Bucardo's triggers and delta tables on
   * the source), then start the daemon, which copies and then follows the deltas.
   */
  async replicate(sourceUrl: string, targetUrl: string): Promise<void> {
    await this.addDb("src", endpointOf(sourceUrl));
    await this.addDb("tgt", endpointOf(targetUrl));
    await this.cli("add", "all", "tables", "db=src", `relgroup=${SYNC}`);
    await this.cli("add", "all", "sequences", "db=src", `relgroup=${SYNC}`);
    await this.cli("add", "sync", SYNC, `relgroup=${SYNC}`, "dbs=src:source,tgt:target", "onetimecopy=1");
    await this.cli("start", "--log-destination", this.dir, "bench");
  }

  /**
   * The row `bucardo add db NAME ... pass=...` inserts, with the password as a query
   * parameter rather than in argv. Bucardo's pgpass column cannot stand in: its PL/Perl
   * validation (run inside the control server) reads the file but connects with the
   * password it had before (bucardo.schema, db_getconn, 5.6.0).
   */
  private async addDb(name: string, e: Endpoint): Promise<void> {
    await this.control.query(
      "INSERT INTO bucardo.db (name, dbname, dbhost, dbport, dbuser, dbpass) VALUES ($1, $2, $3, $4, $5, $6)",
      [name, e.database, e.host, String(e.port), e.user, e.password], "bucardo");
  }

  /** Stop applying (the triggers keep logging deltas on the source); waits for the sync to confirm. */
  async pause(): Promise<void> {
    await this.cli("deactivate", SYNC, "60");
  }

  /** Start applying again, and fire at once rather than on the next write's notice. */
  async resume(): Promise<void> {
    await this.cli("activate", SYNC, "60");
    await this.cli("kick", SYNC);
  }

  private mcpPid(): number | undefined {
    const file = join(this.dir, "bucardo.mcp.pid");
    return existsSync(file) ? Number(readFileSync(file, "utf8").trim().split("\n")[0]) : undefined;
  }

  /** Stop the daemon and wait for its processes to leave. */
  async stop(): Promise<void> {
    if (this.mcpPid() === undefined) return;
    await this.cli("stop", "bench done");
    const deadline = Date.now() + 30_000;
    while (this.mcpPid() !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // A leftover MCP (a kid still finishing a run) would hold connections to the next run's databases.
    this.stopNow();
  }

  /** At exit: the stop file, then a kill of what is left. */
  private stopNow(): void {
    const pid = this.mcpPid();
    if (pid === undefined) return;
    spawnSync("bucardo", ["--bucardorc", join(this.dir, "bucardorc"), "stop", "bench exit"], { env: this.env, cwd: this.dir, stdio: "ignore" });
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }

  /** The last lines of Bucardo's log, for an error message. */
  logTail(lines = 3): string {
    const file = join(this.dir, "log.bucardo");
    return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").slice(-lines).join(" | ") : "(no log)";
  }
}
