// The Command stand-in's connection behaviour, as @pulumi/command's provider has it: a
// remote Command dials again on a connection error (dialErrorLimit, default 10:
// https://www.pulumi.com/registry/packages/command/api-docs/remote/command/#connection),
// but a command that ran and failed is not run again; and a command that exits without
// reading its stdin fails the step with its own exit code, never the rehearsal.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer, connect, Server } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CommandRunner } from "../../../rehearsal/stack/standins/command";
import type { Goal } from "../../../rehearsal/stack/engine";
import { freePort, tempDir } from "../../../rehearsal/servers";
import { startSshd, LocalSshd } from "../../../rehearsal/servers/sshd";

let sshd: LocalSshd;
const servers: Server[] = [];

beforeAll(async () => {
  sshd = await startSshd();
});

afterAll(() => {
  for (const s of servers) s.close();
  sshd?.stop();
});

function goal(type: "command:local:Command" | "command:remote:Command", inputs: Record<string, unknown>): Goal {
  return {
    urn: `urn:pulumi:s::p::${type}::step`, type, name: "step", custom: true, inputs, raw: inputs,
    dependencies: [], deleteBeforeReplace: false, protect: false, retainOnDelete: false, replaceOnChanges: [], ignoreChanges: [],
  };
}

const runner = () => new CommandRunner({ runnerEnv: { PATH: process.env.PATH ?? "" }, isRunner: () => false, logsDir: tempDir("command-dial"), secret: () => undefined, log: () => undefined });
const connection = (port: number) => ({ host: "127.0.0.1", user: sshd.user, port, privateKey: sshd.clientKey });

/** A port that refuses connections until `afterMs`, then forwards them to the sshd. */
async function portComingUp(afterMs: number): Promise<number> {
  const port = await freePort();
  setTimeout(() => {
    const server = createServer((client) => {
      const upstream = connect(sshd.port, "127.0.0.1");
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    servers.push(server);
    server.listen(port, "127.0.0.1");
  }, afterMs);
  return port;
}

describe("the Command stand-in's connection", () => {
  test("a remote Command whose host refuses at first dials again and runs once", async () => {
    const ran = join(tempDir("dial-ran"), "count");
    const port = await portComingUp(1500);
    const realized = await runner().create(goal("command:remote:Command", { connection: connection(port), create: `echo ran >> ${ran}; echo done` }));
    expect(realized.outputs.stdout).toBe("done");
    expect(readFileSync(ran, "utf8")).toBe("ran\n");
  });

  test("a remote command that ran and exited 255 itself is not run again", async () => {
    const ran = join(tempDir("dial-ran"), "count");
    await expect(runner().create(goal("command:remote:Command", { connection: connection(sshd.port), create: `echo ran >> ${ran}; exit 255` }))).rejects.toThrow(/exited 255/);
    expect(readFileSync(ran, "utf8")).toBe("ran\n");
  });

  test("a local command that exits before reading a large stdin fails with its own exit code", async () => {
    const stdin = "x".repeat(8 * 1024 * 1024);
    await expect(runner().create(goal("command:local:Command", { create: "exit 3", stdin }))).rejects.toThrow(/exited 3/);
  });
});
