// --fence dynos-stopped reads CLIENT LIST: who besides ferry is connected (pure parsing).
import { describe, expect, test } from "vitest";
import { otherClients, parseClientList } from "../../../dataplane/redis/clients";

// Redis 7.0's CLIENT LIST, as redis-server prints it (one line per client).
const LIST = [
  "id=3 addr=127.0.0.1:50000 laddr=127.0.0.1:6379 fd=8 name=ferry age=2 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22298 events=r cmd=client|list user=default redir=-1 resp=2",
  "id=4 addr=127.0.0.1:50001 laddr=127.0.0.1:6379 fd=9 name=ferry age=2 idle=1 flags=P db=0 sub=0 psub=2 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1800 events=r cmd=psubscribe user=default redir=-1 resp=2",
  "id=5 addr=10.0.0.7:6380 laddr=127.0.0.1:6379 fd=10 name= age=90 idle=0 flags=S db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1800 events=r cmd=replconf user=default redir=-1 resp=2",
  "id=9 addr=10.1.2.3:41234 laddr=127.0.0.1:6379 fd=11 name=web.1 age=600 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1800 events=r cmd=set user=default redir=-1 resp=2",
  "id=12 addr=10.1.2.4:41300 laddr=127.0.0.1:6379 fd=12 name= age=30 idle=12 flags=b db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1800 events=r cmd=brpop user=default redir=-1 resp=2",
].join("\n") + "\n";

describe("CLIENT LIST for --fence dynos-stopped", () => {
  test("parses each client's address, name, user, last command, idle time and flags", () => {
    const clients = parseClientList(LIST);
    expect(clients).toHaveLength(5);
    expect(clients[3]).toEqual({ id: "9", addr: "10.1.2.3:41234", name: "web.1", user: "default", cmd: "set", idleSeconds: 0, flags: "N" });
  });

  test("everything but this connection, ferry's other connections and replication links could write", () => {
    expect(otherClients(parseClientList(LIST), "3").map((c) => c.id)).toEqual(["9", "12"]);
  });
});
