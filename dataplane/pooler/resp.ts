// The Redis proxy's framer (docs/pooler.md, "The Redis half"): it finds where each RESP
// frame ends in a byte stream, so commands are forwarded at their boundaries and replies
// are counted, and hands back every frame's bytes exactly as they arrived.
//
// Why a framer of our own and not a library: the proxy needs frame *boundaries* and the
// raw bytes, not decoded values, and it must frame RESP3 (HELLO 3: maps, sets, pushes,
// attributes, doubles, booleans, verbatim strings, big numbers) as well as RESP2 and
// inline commands. `redis-parser` (NodeRedis) is RESP2 only, decodes into values and has
// had no release since 2019; ioredis 6 no longer uses it and exports no parser of its
// own; node-redis's RESP3 decoder is internal to `@redis/client`. The whole grammar is
// the table in https://redis.io/docs/latest/develop/reference/protocol-spec/: one line
// per simple type, a length and that many bytes per blob type, a count and that many
// frames per aggregate. Streamed strings and aggregates (`$?`, `*?`) are refused: a
// Redis server never sends them, and a client never may.
//
// A frame split across TCP chunks waits for the bytes it still needs (its length is
// known once its header arrived), so a large bulk string is joined once, not re-parsed
// per chunk; several pipelined frames in one chunk come out one by one.

const CR = 0x0d;
const LF = 0x0a;

/** Redis refuses an inline command or a header line this long (PROTO_INLINE_MAX_SIZE). */
const MAX_LINE = 64 * 1024;
/** Redis's own ceiling on one bulk string (proto-max-bulk-len's maximum, 512 MB by default). */
const MAX_BULK = 512 * 1024 * 1024;

const SIMPLE = new Set(["+", "-", ":", "_", ",", "#", "("]);
const BLOB = new Set(["$", "!", "="]);
const AGGREGATE = new Set(["*", "~", ">"]);
const PAIRS = new Set(["%", "|"]);

export class RespProtocolError extends Error {}

/** Not all of the frame has arrived: `need` is the buffer length that may complete it. */
class Incomplete {
  constructor(readonly need: number) {}
}

function lineEnd(buf: Buffer, at: number): number | Incomplete {
  const eol = buf.indexOf("\r\n", at);
  if (eol >= 0) return eol;
  if (buf.length - at > MAX_LINE) throw new RespProtocolError("a RESP line longer than 64 kB");
  return new Incomplete(buf.length + 1);
}

function lengthOf(buf: Buffer, at: number, eol: number): number {
  const text = buf.toString("latin1", at + 1, eol);
  if (text === "?") throw new RespProtocolError("streamed RESP3 types are not supported");
  if (!/^-?\d+$/.test(text)) throw new RespProtocolError(`invalid length "${text.slice(0, 20)}"`);
  const n = Number(text);
  if (n < -1 || n > MAX_BULK) throw new RespProtocolError(`invalid length ${n}`);
  return n;
}

/** Where the frame that starts at `at` ends (the index after its last byte). */
function frameEnd(buf: Buffer, at: number): number | Incomplete {
  if (at >= buf.length) return new Incomplete(at + 1);
  const type = String.fromCharCode(buf[at]);
  const eol = lineEnd(buf, at + 1);
  if (eol instanceof Incomplete) return eol;
  if (SIMPLE.has(type)) return eol + 2;
  const n = lengthOf(buf, at, eol);
  if (n < 0) return eol + 2; // a RESP2 null ($-1, *-1)
  if (BLOB.has(type)) {
    const end = eol + 2 + n + 2;
    if (buf.length < end) return new Incomplete(end);
    if (buf[end - 2] !== CR || buf[end - 1] !== LF) throw new RespProtocolError("a bulk string not followed by CRLF");
    return end;
  }
  if (!AGGREGATE.has(type) && !PAIRS.has(type)) throw new RespProtocolError(`unknown RESP type byte 0x${buf[at].toString(16)}`);
  let pos = eol + 2;
  for (let i = 0; i < (PAIRS.has(type) ? 2 * n : n); i++) {
    const end = frameEnd(buf, pos);
    if (end instanceof Incomplete) return end;
    pos = end;
  }
  // An attribute is metadata about the value that follows it: the two are one frame.
  return type === "|" ? frameEnd(buf, pos) : pos;
}

/** An inline command (a client's line that does not start with `*`) ends at its LF, as Redis reads it. */
function inlineEnd(buf: Buffer, at: number): number | Incomplete {
  const lf = buf.indexOf(LF, at);
  if (lf >= 0) return lf + 1;
  if (buf.length - at > MAX_LINE) throw new RespProtocolError("too big inline request");
  return new Incomplete(buf.length + 1);
}

/**
 * Splits a byte stream into frames. `inline`: the client side, where a line that does
 * not start with `*` is an inline command (https://redis.io/docs/latest/develop/reference/protocol-spec/#inline-commands).
 */
export class RespFramer {
  private buf: Buffer = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  private size = 0;
  private need = 1;

  constructor(private readonly inline = false) {}

  /** The frames `chunk` completes, each one's bytes exactly as received. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < this.need) return [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, ...this.chunks]) : this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [];
    const frames: Buffer[] = [];
    let at = 0;
    for (;;) {
      const end = this.inline && at < this.buf.length && this.buf[at] !== 0x2a ? inlineEnd(this.buf, at) : frameEnd(this.buf, at);
      if (end instanceof Incomplete) {
        this.need = end.need - at;
        break;
      }
      frames.push(this.buf.subarray(at, end));
      at = end;
    }
    this.buf = this.buf.subarray(at);
    this.size = this.buf.length;
    return frames;
  }
}

/**
 * A client command's arguments: a RESP array of bulk strings, or an inline command split
 * on spaces (Redis also reads quotes there; the arguments serve only to track state, the
 * bytes are forwarded as they are). Empty for a blank inline line, which Redis ignores.
 */
export function commandArgs(frame: Buffer): Buffer[] {
  if (frame[0] !== 0x2a) {
    return frame.toString("latin1").trim().split(/[ \t]+/).filter(Boolean).map((s) => Buffer.from(s, "latin1"));
  }
  const eol = frame.indexOf("\r\n");
  const n = Number(frame.toString("latin1", 1, eol));
  const args: Buffer[] = [];
  let pos = eol + 2;
  for (let i = 0; i < n; i++) {
    if (frame[pos] !== 0x24) throw new RespProtocolError(`expected '$', got '${String.fromCharCode(frame[pos])}'`);
    const e = frame.indexOf("\r\n", pos);
    const len = Number(frame.toString("latin1", pos + 1, e));
    args.push(frame.subarray(e + 2, e + 2 + len));
    pos = e + 2 + len + 2;
  }
  return args;
}

/** What the proxy needs to know of a reply: its type and, for an aggregate, its first elements. */
export interface ReplyShape {
  /** The type byte of the value (after any attribute). */
  type: string;
  /** An aggregate's first element, lowercased when it is a string (`message`, `subscribe`, ...). */
  head?: string;
  /** An aggregate's third element when it is an integer (a subscription confirmation's count). */
  count?: number;
}

/** A simple or blob string's text, or an integer's value, of the frame at `at`. */
function scalarAt(buf: Buffer, at: number): { text?: string; int?: number } {
  const type = String.fromCharCode(buf[at]);
  const eol = buf.indexOf("\r\n", at);
  if (type === ":") return { int: Number(buf.toString("latin1", at + 1, eol)) };
  if (type === "+") return { text: buf.toString("latin1", at + 1, eol) };
  if (type === "$") {
    const n = Number(buf.toString("latin1", at + 1, eol));
    return n < 0 ? {} : { text: buf.toString("latin1", eol + 2, eol + 2 + n) };
  }
  return {};
}

export function replyShape(frame: Buffer): ReplyShape {
  let at = 0;
  if (frame[0] === 0x7c /* | */) {
    // Skip the attribute: what counts is the value it describes.
    const eol = frame.indexOf("\r\n");
    const n = Number(frame.toString("latin1", 1, eol));
    at = eol + 2;
    for (let i = 0; i < 2 * n; i++) at = frameEnd(frame, at) as number;
  }
  const type = String.fromCharCode(frame[at]);
  if (!AGGREGATE.has(type)) return { type };
  const eol = frame.indexOf("\r\n", at);
  const n = Number(frame.toString("latin1", at + 1, eol));
  if (n < 1) return { type };
  const first = eol + 2;
  const head = scalarAt(frame, first).text?.toLowerCase();
  if (n < 3) return { type, head };
  const third = frameEnd(frame, frameEnd(frame, first) as number) as number;
  return { type, head, count: scalarAt(frame, third).int };
}

/**
 * A null: RESP3's `_`, or RESP2's null array or null bulk string. What a blocking command
 * answers when its timeout ran out (or CLIENT UNBLOCK ended it): it carries no data.
 */
export function isNullReply(frame: Buffer): boolean {
  if (frame[0] === 0x5f /* _ */) return true;
  const head = frame.toString("latin1", 0, 5);
  return head === "*-1\r\n" || head === "$-1\r\n";
}

/** A command as RESP: an array of bulk strings. */
export function encodeCommand(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const bytes = typeof a === "string" ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

/** An error reply (the same bytes in RESP2 and RESP3). */
export const errorReply = (message: string) => Buffer.from(`-${message.replace(/[\r\n]+/g, " ")}\r\n`);
export const OK = Buffer.from("+OK\r\n");
