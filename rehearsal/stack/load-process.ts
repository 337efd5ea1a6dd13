// The load generator in a process of its own: the users it stands for do not share an
// event loop with the Pulumi engine. In the rehearsal's own process, every `pulumi up`
// blocked the loop for seconds while the program was evaluated (3-6 s measured on the
// staging stack, 12 s under load), so requests in flight then "timed out" and counted as
// failures that no user would have seen. The child runs rehearsal/loadgen.ts unchanged
// and streams each request and acknowledged write back, timed by its own clock.
import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { LoadGenerator, LoadObservations, LoadOptions, OBSERVATION_LISTS, startLoad, warmUp } from "../loadgen";
import { onExit } from "../servers";

type FromChild = LoadObservations & { done?: boolean };

/** Start the load generator in a child process; its observations arrive in `requests`, `acked` and `uploads`. */
export function startLoadProcess(opts: LoadOptions): LoadGenerator {
  const seen: LoadObservations = { requests: [], acked: [], uploads: [] };
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", __filename], {
    cwd: join(__dirname, "..", ".."),
    env: { ...process.env, FERRY_LOAD_OPTIONS: JSON.stringify(opts) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const removeHook = onExit(() => child.kill("SIGKILL"));
  const done = new Promise<void>((resolve, reject) => {
    child.on("message", (m: FromChild) => {
      for (const list of OBSERVATION_LISTS) (seen[list] as unknown[]).push(...m[list]);
      if (m.done) resolve();
    });
    child.once("exit", (code, signal) => (code === 0 ? resolve() : reject(new Error(`the load generator exited (${code ?? signal})`))));
  }).finally(removeHook);
  return {
    ...seen,
    done,
    stop: async () => {
      if (child.connected) child.send({ stop: true });
      await done;
    },
  };
}

/**
 * The child: run the load, send what it saw every 200 ms, and all of it once stopped. Its
 * own first request goes unjudged: a process's first fetch loads and compiles the HTTP
 * client (undici) and opens its first connection, which no user's browser pays mid-session.
 */
async function runChild(opts: LoadOptions): Promise<void> {
  await warmUp(opts, 1, 1);
  const load = startLoad(opts);
  const sent = Object.fromEntries(OBSERVATION_LISTS.map((list) => [list, 0])) as Record<keyof LoadObservations, number>;
  const flush = (done = false) => {
    const message = { ...(done ? { done } : {}) } as FromChild;
    for (const list of OBSERVATION_LISTS) {
      (message[list] as unknown[]) = load[list].slice(sent[list]);
      sent[list] = load[list].length;
    }
    return new Promise<void>((resolve) => process.send!(message, () => resolve()));
  };
  const timer = setInterval(() => void flush(), 200);
  let finishing = false;
  const finish = async () => {
    if (finishing) return;
    finishing = true;
    clearInterval(timer);
    await flush(true);
    process.exit(0);
  };
  process.on("message", (m: { stop?: boolean }) => {
    if (m.stop) void load.stop().then(finish);
  });
  void load.done.then(finish);
  // The rehearsal is gone: so are its users.
  process.on("disconnect", () => process.exit(0));
}

if (require.main === module) void runChild(JSON.parse(process.env.FERRY_LOAD_OPTIONS ?? "{}") as LoadOptions);
