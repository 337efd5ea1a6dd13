// Entry point of one app process (`tsx rehearsal/app/main.ts`), configured by its
// environment. SIGTERM stops it gracefully: in-flight requests finish, the worker
// puts down its queue, connections close.
import { appConfigFromEnv } from "./config";
import { startApp } from "./server";

async function main(): Promise<void> {
  const app = await startApp(appConfigFromEnv());
  const shutdown = () => {
    app.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  process.stdout.write("ready\n");
}

main().catch((err) => {
  process.stderr.write(`rehearsal app: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
