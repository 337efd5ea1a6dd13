// Which commands a pause may unblock and send again, and with what timeout
// (dataplane/pooler/redis-blocking.ts). Real servers answer these commands in
// tests/dataplane/pooler/redis-proxy.test.ts; here, every command's timeout is found
// where its Redis page puts it, and what is sent again is what is left of it.
import { describe, expect, it } from "vitest";
import { blockingCommand, MIN_RESENT_TIMEOUT_MS, resendFrame } from "../../../dataplane/pooler/redis-blocking";
import { commandArgs } from "../../../dataplane/pooler/resp";

const NOW = 1_000_000;
const parse = (line: string) => {
  const args = line.split(" ").map((a) => Buffer.from(a));
  return blockingCommand(line.split(" ")[0].toUpperCase(), args, NOW);
};
const resent = (line: string, afterMs: number) => commandArgs(resendFrame(parse(line)!, NOW + afterMs)).map(String).join(" ");

describe("blocking commands a pause sends again", () => {
  it("finds each command's timeout where Redis reads it", () => {
    expect(resent("BRPOP queue:default queue:low 2", 500)).toBe("BRPOP queue:default queue:low 1.500");
    expect(resent("blpop k 0.5", 100)).toBe("blpop k 0.400");
    expect(resent("BZPOPMIN z 3", 1000)).toBe("BZPOPMIN z 2.000");
    expect(resent("BZPOPMAX z 3", 1000)).toBe("BZPOPMAX z 2.000");
    expect(resent("BRPOPLPUSH src dst 2", 1000)).toBe("BRPOPLPUSH src dst 1.000");
    expect(resent("BLMOVE src dst LEFT RIGHT 2", 1000)).toBe("BLMOVE src dst LEFT RIGHT 1.000");
    expect(resent("BLMPOP 2 2 a b LEFT COUNT 3", 1000)).toBe("BLMPOP 1.000 2 a b LEFT COUNT 3");
    expect(resent("BZMPOP 2 1 z MIN", 1000)).toBe("BZMPOP 1.000 1 z MIN");
    expect(resent("XREAD COUNT 10 BLOCK 2000 STREAMS s1 s2 0-0 1-1", 500)).toBe("XREAD COUNT 10 BLOCK 1500 STREAMS s1 s2 0-0 1-1");
    // A group or consumer named BLOCK is a name, not the option.
    expect(resent("XREADGROUP GROUP BLOCK consumer NOACK BLOCK 2000 STREAMS s >", 500)).toBe("XREADGROUP GROUP BLOCK consumer NOACK BLOCK 1500 STREAMS s >");
  });

  it("never sends 0 for a timeout already spent, and sends 0 (forever) again as 0", () => {
    expect(resent("BRPOP q 2", 5000)).toBe(`BRPOP q ${(MIN_RESENT_TIMEOUT_MS / 1000).toFixed(3)}`);
    expect(resent("XREAD BLOCK 100 STREAMS s 0-0", 5000)).toBe(`XREAD BLOCK ${MIN_RESENT_TIMEOUT_MS} STREAMS s 0-0`);
    expect(resent("BLPOP k 0", 60_000)).toBe("BLPOP k 0");
    expect(resent("XREAD BLOCK 0 STREAMS s 0-0", 60_000)).toBe("XREAD BLOCK 0 STREAMS s 0-0");
  });

  it("counts a second resend (a second pause) from the client's own deadline", () => {
    const b = parse("BRPOP q 1")!;
    expect(commandArgs(resendFrame(b, NOW + 200)).map(String)).toEqual(["BRPOP", "q", "0.800"]);
    expect(commandArgs(resendFrame(b, NOW + 700)).map(String)).toEqual(["BRPOP", "q", "0.300"]);
  });

  it("leaves alone what cannot be sent again, or does not block", () => {
    for (const line of [
      "XREAD BLOCK 2000 STREAMS s $", // $ is the last ID when it runs: sent again, it would skip entries
      "XREAD COUNT 1 STREAMS s 0-0", // no BLOCK: answers at once
      "WAIT 1 1000", "WAITAOF 1 0 1000", // counts acknowledgements of this connection's writes on this server
      "BRPOP q -1", "BRPOP q soon", "BRPOP q", // Redis refuses these timeouts itself
      "GET k", "LPUSH q 1",
    ]) expect(parse(line), line).toBeUndefined();
  });
});
