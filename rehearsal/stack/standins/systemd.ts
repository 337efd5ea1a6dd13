// systemd on the rehearsal's box: the app's units, each a fleet of one process, and the
// `systemctl` an SSH session on the box runs. Its verbs act as systemctl(1) says
// (https://www.freedesktop.org/software/systemd/man/latest/systemctl.html):
//   - start: starts a unit that is not running; stop: stops it;
//   - restart: "Stop and then start one or more units ... If the units are not running yet,
//     they will be started";
//   - enable / disable: the unit starts at boot, or not; they start or stop it now only with
//     --now ("This does not have the effect of also starting any of the units being enabled");
//   - a unit the host does not have: "Failed to VERB NAME.service: Unit NAME.service not found.", exit 5.
// A unit reads its environment file when it starts (EnvironmentFile=, or the app's dotenv),
// so a unit (re)started after its env file changed runs with the new values: what
// `ferry box repoint` relies on.
import { createServer, Server } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Fleet, FleetSpec } from "./fleet";

/** What `systemctl ARGS` does to the units it names. */
export type UnitAction = "start" | "stop" | "restart" | "none";

/** systemctl's verb and flags as the action on the named units; undefined for a verb the stand-in does not know. */
export function unitAction(args: string[]): UnitAction | undefined {
  const now = args.includes("--now");
  switch (args[0]) {
    case "start": return "start";
    case "stop": return "stop";
    case "restart": return "restart";
    case "enable": return now ? "start" : "none";
    case "disable": return now ? "stop" : "none";
    default: return undefined;
  }
}

/** systemctl's own error, with its exit status. */
export class SystemctlError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export class Systemd {
  private control?: Server;

  /** `units`: each unit's fleet; `specOf`: the unit's process as it starts now (its env file read afresh). */
  constructor(private readonly units: Map<string, Fleet>, private readonly specOf: (unit: string) => FleetSpec) {}

  /** Start a unit as it starts at boot. */
  async start(unit: string): Promise<void> {
    const fleet = this.units.get(unit)!;
    fleet.configure(this.specOf(unit));
    await fleet.scale(1);
  }

  private async act(action: UnitAction, unit: string): Promise<void> {
    const fleet = this.units.get(unit)!;
    if (action === "stop" || action === "restart") await fleet.scale(0);
    if (action === "start" || action === "restart") await this.start(unit);
  }

  /** `systemctl ARGS`: what it prints. */
  async systemctl(args: string[]): Promise<string> {
    const action = unitAction(args);
    if (!action) throw new SystemctlError(`the rehearsal's box knows start, stop, restart, enable and disable [--now], not ${args.join(" ")}`, 1);
    const names = args.slice(1).filter((a) => !a.startsWith("--"));
    for (const u of names) if (!this.units.has(u)) throw new SystemctlError(`Failed to ${args[0]} ${u}.service: Unit ${u}.service not found.`, 5);
    await Promise.all(names.map((u) => this.act(action, u)));
    return action === "none" ? "" : `${action === "stop" ? "stopped" : action === "restart" ? "restarted" : "started"} ${names.join(" ")}\n`;
  }

  /** A `systemctl` executable in `bin` that asks this systemd (over loopback HTTP) and exits as systemctl does. */
  async serve(bin: string): Promise<void> {
    this.control = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        this.systemctl(JSON.parse(body) as string[]).then(
          (out) => res.writeHead(200).end(out),
          (e: Error) => res.writeHead(500, { "x-status": String(e instanceof SystemctlError ? e.status : 1) }).end(`${e.message}\n`),
        );
      });
    });
    await new Promise<void>((r) => this.control!.listen(0, "127.0.0.1", () => r()));
    const port = (this.control.address() as AddressInfo).port;
    writeFileSync(join(bin, "systemctl"), `#!/usr/bin/env node
// systemd on the rehearsal's box: asks the rehearsal to act on the box's units.
const http = require("http");
const req = http.request({ host: "127.0.0.1", port: ${port}, method: "POST", path: "/" }, (res) => {
  let out = ""; res.on("data", (d) => (out += d));
  res.on("end", () => { (res.statusCode === 200 ? process.stdout : process.stderr).write(out); process.exit(res.statusCode === 200 ? 0 : Number(res.headers["x-status"] || 1)); });
});
req.on("error", (e) => { process.stderr.write("systemctl: " + e.message + "\\n"); process.exit(1); });
req.end(JSON.stringify(process.argv.slice(2)));
`, { mode: 0o755 });
  }

  close(): void {
    this.control?.close();
  }
}
