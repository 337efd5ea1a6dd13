import { spawnSync } from "node:child_process";
import { startPostgres, startRedis, startHerokuApi } from "../../rehearsal/servers";
async function main() {
  const src = await startPostgres({ password: "src-pass-1234" });
  await src.query("create table t(id serial primary key, v text); insert into t(v) select 'x' from generate_series(1,10)");
  const tgt = await startPostgres({ password: "tgt-pass-1234" });
  await tgt.query("create database full_db");
  await tgt.query("create table a(id int primary key)", [], "full_db");
  const r = await startRedis({ password: "redis-pass-12345" });
  const rt = await startRedis({ tls: true, password: "redis-tls-12345" });
  const heroku = await startHerokuApi({ apiKey: "good-key-123", limitedKeys: { "limited-key-1": ["other"] }, apps: [{ name: "mastodon-web", formation: [{ type: "web", quantity: 1 }] }, { name: "other" }] });
  const run = (args: string[], env: Record<string,string> = {}) => {
    const t = Date.now();
    const p = spawnSync("node", ["bin/ferry.js", ...args], { env: { ...process.env, ...env }, encoding: "utf8" });
    console.log(`[${p.status}] ${(Date.now()-t)}ms ferry ${args.join(" ")} ${Object.keys(env).join(",")}\n   err: ${p.stderr.trim().split("\n").join(" | ")}\n   out: ${p.stdout.trim().slice(0,300).split("\n").join(" | ")}`);
  };
  const S = src.url("postgres"), T = tgt.url("postgres");
  const sub = (a: string) => a.replace("$SBAD", src.url("postgres","postgres","wrong")).replace("$TFULL", tgt.url("full_db")).replace("$RT", rt.url()).replace("$RBAD", `redis://:wrongpass@127.0.0.1:${r.port}/0`).replace("$S", S).replace("$T", T).replace("$R", r.url()).replace("$HK", heroku.url);
  const cases: [string[], Record<string,string>][] = JSON.parse(process.argv[2]);
  for (const [args, env] of cases) run(args.map(sub), Object.fromEntries(Object.entries(env).map(([k,v]) => [k, sub(v)])));
  process.exit(0);
}
main();
