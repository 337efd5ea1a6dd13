import { describe, expect, it } from "vitest";
import { validateRdsSafe } from "../../policy/rds-safe";
import { resourceArgs, violations } from "./args";

// What the program declares for the target (components/target/postgres.ts), in short.
const safe = { engine: "postgres", storageEncrypted: true, publiclyAccessible: false, backupRetentionPeriod: 7, skipFinalSnapshot: false };
const check = (props: Record<string, unknown>, type = "aws:rds/instance:Instance") =>
  violations((report) => validateRdsSafe(resourceArgs(type, "target-db", props), report));

describe("ferry-rds-safe", () => {
  it("passes an encrypted private instance that keeps backups", () => {
    expect(check(safe)).toEqual([]);
  });

  it.each([
    [{ storageEncrypted: false }, /storageEncrypted is false; set storageEncrypted: true/],
    [{ storageEncrypted: undefined }, /storageEncrypted is unset/],
    [{ publiclyAccessible: true }, /publiclyAccessible is true/],
    [{ backupRetentionPeriod: 0 }, /backupRetentionPeriod is 0; keep automated backups/],
    [{ skipFinalSnapshot: true }, /skipFinalSnapshot is true/],
  ])("fails %j", (change, message) => {
    const found = check({ ...safe, ...change });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it("applies the cluster rules to Aurora clusters and ignores other types", () => {
    expect(check({ storageEncrypted: false, backupRetentionPeriod: 1 }, "aws:rds/cluster:Cluster")).toEqual([expect.stringMatching(/storageEncrypted/)]);
    expect(check({ publiclyAccessible: true }, "aws:s3/bucket:Bucket")).toEqual([]);
  });
});
