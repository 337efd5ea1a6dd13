// A busy sshd drops new connections before their key exchange (sshd_config(5), MaxStartups:
// past `start` unauthenticated connections, new ones are refused with probability `rate`).
// Nothing has run on such a connection, so ferry sends its script again; a connection that
// failed for another reason (here: the wrong host key) is not retried.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { connect, Socket } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../rehearsal/servers";
import { droppedBeforeSession, runScript } from "../../../dataplane/traffic/remote-host";
import { startSshd, TestSshd } from "./sshd";

let sshd: TestSshd;
const target = () => ({ kind: "ssh" as const, user: sshd.user, host: "127.0.0.1", port: sshd.port });

beforeAll(async () => {
  // One unauthenticated connection is the limit; every one past it is dropped.
  sshd = await startSshd({ config: ["MaxStartups 1:100:1"] });
  process.env.FERRY_TEST_SSH_KEY = sshd.clientKey;
});

afterAll(() => sshd?.stop());

/** An ssh that is dropped before the key exchange on its first `drops` dials, then is the real ssh. */
function sshDroppingFirst(drops: number): string {
  const dir = tempDir("ssh-dropping");
  const counter = join(dir, "dials");
  const wrapper = join(dir, "ssh");
  writeFileSync(wrapper, `#!/bin/sh\necho x >> ${counter}\nif [ "$(wc -l < ${counter})" -le ${drops} ]; then echo "kex_exchange_identification: Connection closed by remote host" >&2; exit 255; fi\nexec ssh "$@"\n`, { mode: 0o755 });
  return wrapper;
}

/** An unauthenticated connection that holds sshd's only startup slot until released. */
async function holdStartupSlot(): Promise<Socket> {
  const socket = connect(sshd.port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("data", () => resolve()); // sshd's banner: the slot is taken
    socket.once("error", reject);
  });
  return socket;
}

describe("ssh to a box whose sshd is busy", () => {
  test("a connection dropped before the session is retried, and the script runs once", async () => {
    // The first dial meets a full sshd (what ssh prints then is checked against the real
    // sshd below); the next goes through to the real one.
    const ssh = sshDroppingFirst(1);
    const ran = join(tempDir("ssh-ran"), "count");
    const result = await runScript(target(), `echo ran >> ${ran}; echo ran`, { keyEnv: "FERRY_TEST_SSH_KEY", hostKey: sshd.hostKey, ssh });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("ran\n");
    expect(readFileSync(ran, "utf8")).toBe("ran\n");
  });

  test("an sshd that keeps dropping fails the step after a few tries, naming the host", async () => {
    const ssh = sshDroppingFirst(10);
    await expect(runScript(target(), "echo ran", { keyEnv: "FERRY_TEST_SSH_KEY", hostKey: sshd.hostKey, ssh })).rejects.toThrow(/ssh to .*127\.0\.0\.1.* failed: kex_exchange_identification/);
  });

  test("the drop is real, and what ssh prints for it is what ferry retries on", async () => {
    const holder = await holdStartupSlot();
    try {
      const ssh = spawnSync("ssh", ["-p", String(sshd.port), "-oBatchMode=yes", "-oStrictHostKeyChecking=no", "-oUserKnownHostsFile=/dev/null", "-oLogLevel=ERROR", `${sshd.user}@127.0.0.1`, "true"], { encoding: "utf8", input: "" });
      expect(ssh.status, ssh.stderr).toBe(255);
      expect(droppedBeforeSession(ssh.status!, ssh.stderr)).toBe(true);
    } finally {
      holder.destroy();
    }
  });

  test("a refused host key is not a dropped connection", async () => {
    const wrongKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0DBAGEd8iMQ7LA1TXa8SBDLhX2xXNj2ftYjkQ8d3jk";
    await expect(runScript(target(), "echo ran", { keyEnv: "FERRY_TEST_SSH_KEY", hostKey: wrongKey })).rejects.toThrow(/Host key verification failed/);
  });

  test("what counts as dropped before the session", () => {
    expect(droppedBeforeSession(255, "kex_exchange_identification: Connection closed by remote host\n")).toBe(true);
    expect(droppedBeforeSession(255, "kex_exchange_identification: read: Connection reset by peer\n")).toBe(true);
    expect(droppedBeforeSession(255, "Connection closed by 127.0.0.1 port 2222\n")).toBe(true);
    // The session had started: the script may have run.
    expect(droppedBeforeSession(255, "Connection to 127.0.0.1 closed by remote host.\n")).toBe(false);
    expect(droppedBeforeSession(255, "Host key verification failed.\n")).toBe(false);
    // The script's own exit code.
    expect(droppedBeforeSession(1, "kex_exchange_identification: Connection closed by remote host\n")).toBe(false);
  });
});
