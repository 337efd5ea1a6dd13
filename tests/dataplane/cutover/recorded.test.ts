// The strategy and mode replicate recorded decide; a flag may repeat them, not contradict them.
import { describe, expect, test } from "vitest";
import { chooseStrategy } from "../../../dataplane/postgres/recorded";
import { chooseMode } from "../../../dataplane/redis/recorded";

describe("strategy and mode from the record", () => {
  test("no flag: the recorded one; the same flag: accepted", () => {
    expect(chooseStrategy(undefined, "logical")).toBe("logical");
    expect(chooseStrategy("dump", "dump")).toBe("dump");
    expect(chooseMode(undefined, "copy")).toBe("copy");
    expect(chooseMode("replicaof", "replicaof")).toBe("replicaof");
  });

  test("a flag without a record decides (an older target, or one replicate never wrote to)", () => {
    expect(chooseStrategy("physical", null)).toBe("physical");
    expect(chooseMode("copy", null)).toBe("copy");
  });

  test("a flag that disagrees is refused naming both; nothing at all is refused naming the flag", () => {
    expect(() => chooseStrategy("physical", "logical")).toThrow(/^--strategy physical disagrees with the strategy ferry pg replicate recorded on the target \(logical\): drop --strategy or pass --strategy logical$/);
    expect(() => chooseMode("copy", "replicaof")).toThrow(/^--strategy copy disagrees with the strategy ferry redis replicate recorded on the target \(replicaof\): drop --strategy or pass --strategy replicaof$/);
    expect(() => chooseStrategy(undefined, null)).toThrow(/^missing --strategy: /);
    expect(() => chooseMode(undefined, null)).toThrow(/^missing --strategy: /);
  });
});
