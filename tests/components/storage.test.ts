// The bucket's lifecycle: the final backups (the way back from decommission) kept as
// ferry:target.finalBackupRetentionDays says, under a prefix no other rule expires sooner.
import { describe, expect, it } from "vitest";
import { lifecycleRules } from "../../components/target/storage";
import { FINAL_BACKUP_PREFIX, finalBackupKey } from "../../dataplane/cli/contract";

describe("the bucket's lifecycle rules", () => {
  it("keep the final backups, and the versions they replaced, for the configured days", () => {
    const rules = lifecycleRules({ finalBackupRetentionDays: 400 });
    const final = rules.filter((r) => finalBackupKey("postgres").startsWith(String((r.filter as { prefix: string }).prefix)));
    expect(final).toEqual([{
      id: "expire-final-backups", status: "Enabled", filter: { prefix: FINAL_BACKUP_PREFIX },
      expiration: { days: 400 }, noncurrentVersionExpiration: { noncurrentDays: 400 },
    }]);
    // S3 applies the shortest expiration of overlapping rules: no other rule may cover the final backups.
    for (const key of [finalBackupKey("postgres"), finalBackupKey("redis")]) {
      expect(rules.filter((r) => key.startsWith(String((r.filter as { prefix: string }).prefix))).map((r) => r.id)).toEqual(["expire-final-backups"]);
    }
  });

  it("still expire the hourly Redis snapshots after 30 days", () => {
    expect(lifecycleRules({ finalBackupRetentionDays: 400 }).find((r) => r.id === "expire-backups")).toMatchObject({ filter: { prefix: "backups/" }, expiration: { days: 30 } });
  });
});
