// The Redis proxy's framer (dataplane/pooler/resp.ts): every RESP2 and RESP3 type ends
// where the protocol says, whatever the TCP chunks, and each frame's bytes come back
// exactly as sent. The frames here are the examples of the protocol spec
// (https://redis.io/docs/latest/develop/reference/protocol-spec/) and what a real
// server sends (tests/dataplane/pooler/redis-proxy.test.ts runs them through real ones).
import { describe, expect, it } from "vitest";
import { commandArgs, encodeCommand, isNullReply, RespFramer, RespProtocolError, replyShape } from "../../../dataplane/pooler/resp";

const REPLIES = [
  "+OK\r\n",
  "-ERR unknown command 'foo'\r\n",
  ":1000\r\n",
  "$5\r\nhello\r\n",
  "$0\r\n\r\n",
  "$-1\r\n",
  "*-1\r\n",
  "*0\r\n",
  "*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n",
  "*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n",
  "_\r\n",
  ",1.23\r\n",
  ",inf\r\n",
  "#t\r\n",
  "(3492890328409238509324850943850943825024385\r\n",
  "!21\r\nSYNTAX invalid syntax\r\n",
  "=15\r\ntxt:Some string\r\n",
  "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
  "~2\r\n+orange\r\n+apple\r\n",
  ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
  // An attribute and the reply it describes are one frame.
  "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
  // A bulk string holding CRLF and RESP-looking bytes.
  "$11\r\n*1\r\n$1\r\nx\r\n\r\n",
];

/** Feed `bytes` in chunks of `size` and collect the frames. */
function frames(bytes: Buffer, size: number, inline = false): string[] {
  const framer = new RespFramer(inline);
  const out: string[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(...framer.push(bytes.subarray(at, at + size)).map((f) => f.toString("latin1")));
  return out;
}

describe("the Redis proxy's framer", () => {
  it("ends every RESP2 and RESP3 reply where it ends, pipelined and split at any byte", () => {
    const all = Buffer.from(REPLIES.join(""), "latin1");
    for (const size of [1, 2, 3, 7, 64, all.length]) expect(frames(all, size), `chunks of ${size}`).toEqual(REPLIES);
  });

  it("joins a large bulk string split across chunks once, byte for byte", () => {
    const value = Buffer.alloc(3 * 1024 * 1024, 0xab);
    value.write("\r\n$-1\r\n", 1000, "latin1");
    const frame = Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from("\r\n")]);
    const framer = new RespFramer();
    const out: Buffer[] = [];
    for (let at = 0; at < frame.length; at += 65_536) out.push(...framer.push(frame.subarray(at, at + 65_536)));
    expect(out).toHaveLength(1);
    expect(out[0].equals(frame)).toBe(true);
  });

  it("frames a client's pipelined commands and inline commands, and reads their arguments", () => {
    const set = encodeCommand(["SET", "k", Buffer.from([0, 13, 10, 255])]);
    const bytes = Buffer.concat([set, Buffer.from("PING\r\n\r\nSELECT 2\n"), encodeCommand(["GET", "k"])]);
    for (const size of [1, 5, bytes.length]) {
      const out = frames(bytes, size, true);
      expect(out).toEqual([set.toString("latin1"), "PING\r\n", "\r\n", "SELECT 2\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"]);
      expect(out.map((f) => commandArgs(Buffer.from(f, "latin1")).map((a) => a.toString("latin1")))).toEqual([
        ["SET", "k", "\u0000\r\n\u00ff"], ["PING"], [], ["SELECT", "2"], ["GET", "k"],
      ]);
    }
  });

  it("refuses what is not RESP, as Redis does, instead of guessing a boundary", () => {
    expect(() => new RespFramer().push(Buffer.from("?what\r\n"))).toThrow(RespProtocolError);
    expect(() => new RespFramer().push(Buffer.from("$abc\r\n"))).toThrow(/invalid length/);
    expect(() => new RespFramer().push(Buffer.from("$3\r\nabcXY"))).toThrow(/not followed by CRLF/);
    expect(() => new RespFramer().push(Buffer.from("$?\r\n;4\r\nHell\r\n;0\r\n"))).toThrow(/streamed/);
    expect(() => commandArgs(Buffer.from("*1\r\n:1\r\n"))).toThrow(/expected '\$', got ':'/);
  });

  it("tells a reply's type and a push's kind and count (through an attribute too)", () => {
    expect(replyShape(Buffer.from(">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"))).toEqual({ type: ">", head: "subscribe", count: 1 });
    expect(replyShape(Buffer.from("*3\r\n$7\r\nMESSAGE\r\n$4\r\nnews\r\n$2\r\nhi\r\n"))).toEqual({ type: "*", head: "message", count: undefined });
    expect(replyShape(Buffer.from(REPLIES[20], "latin1"))).toEqual({ type: "*", head: undefined, count: undefined });
    expect(replyShape(Buffer.from("-ERR x\r\n"))).toEqual({ type: "-" });
  });

  it("tells a null (what a blocking command's timeout answers) from every other reply, an empty one too", () => {
    const nulls = REPLIES.filter((r) => isNullReply(Buffer.from(r, "latin1")));
    expect(nulls).toEqual(["$-1\r\n", "*-1\r\n", "_\r\n"]);
  });
});
