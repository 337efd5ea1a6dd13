import { startPostgres } from "./rehearsal/servers";
import { withClient } from "./migrations/postgres/connection";
import { listTables } from "./migrations/postgres/copy-catalog";
(async () => {
  const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
  await a.query("CREATE TYPE mood AS ENUM ('x','y'); CREATE TABLE h (id int primary key, m mood[])");
  await b.query("CREATE TYPE shift AS ENUM ('a','b','c','d','e','f','g','h'); CREATE TYPE mood AS ENUM ('x','y'); CREATE TABLE h (id int primary key, m mood[])");
  console.log(await a.query("select 'mood'::regtype::oid"), await b.query("select 'mood'::regtype::oid"));
  const t = (await withClient(a.url(), listTables))[0];
  console.log(t.columns);
  await a.query("insert into h values (1, '{x,y}')");
  const { to } = await import("pg-copy-streams");
  const { from } = await import("pg-copy-streams");
  const { pipeline } = await import("node:stream/promises");
  const { Client } = await import("pg");
  const s = new Client(a.url()); await s.connect(); const d = new Client(b.url()); await d.connect();
  try {
    await pipeline(s.query(to("COPY h TO STDOUT (FORMAT binary)")), d.query(from("COPY h FROM STDIN (FORMAT binary)")));
    console.log("binary ok", await b.query("select * from h"));
  } catch (e) { console.log("binary failed:", (e as Error).message); }
  await s.end(); await d.end(); await a.stop(); await b.stop();
})();
