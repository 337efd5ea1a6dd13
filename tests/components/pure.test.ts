// The pure pieces of the components: subnet layout, RDS parameters, boot
// scripts, source protection, URL rewriting. No Pulumi runtime.
import { describe, expect, it } from "vitest";
import { shellQuote } from "../../components/shell";
import { portOf, postgresParameters, runnerPostgresUrl, subnetCidrs } from "../../components/target";
import { RDS_CA_BUNDLE, redisUserData, runnerUserData } from "../../components/target/userData";
import { validationRecord } from "../../components/target/certificate";

describe("subnetCidrs", () => {
  it("carves /20s from a /16 without overlap", () => {
    expect(subnetCidrs("10.60.0.0/16", 4)).toEqual(["10.60.0.0/20", "10.60.16.0/20", "10.60.32.0/20", "10.60.48.0/20"]);
    expect(subnetCidrs("172.16.128.0/18", 2)).toEqual(["172.16.128.0/22", "172.16.132.0/22"]);
  });

  it("refuses more subnets than fit", () => {
    expect(() => subnetCidrs("10.0.0.0/16", 17)).toThrow(/cannot fit 17 subnets/);
  });
});

describe("postgresParameters", () => {
  it("turns logical replication on (static, pending reboot) only for the logical strategy", () => {
    const logical = postgresParameters("logical");
    expect(logical).toContainEqual({ name: "rds.logical_replication", value: "1", applyMethod: "pending-reboot" });
    expect(postgresParameters("dump").map((p) => p.name)).not.toContain("rds.logical_replication");
    for (const strategy of ["dump", "logical"] as const) {
      expect(postgresParameters(strategy)).toContainEqual({ name: "rds.force_ssl", value: "1", applyMethod: "immediate" });
    }
  });
});

describe("user data", () => {
  it("Redis on EC2 keeps AOF, takes the password from SSM and backs up to S3 every hour", () => {
    const script = redisUserData({ region: "eu-central-1", passwordParameter: "/ferry/x/redis-password", bucket: "b-1" });
    expect(script).toContain("appendonly yes");
    expect(script).toContain("/etc/cron.hourly/ferry-redis-backup");
    expect(script).toContain("s3://b-1/backups/redis/");
    expect(script).toContain("REDISCLI_AUTH");
  });

  it("the runner accepts FERRY_* and HEROKU_* over SSH so secrets travel as environment", () => {
    const script = runnerUserData({ ferryRepo: "https://github.com/example/ferry.git", ferryRef: "main" });
    expect(script).toContain("AcceptEnv FERRY_* HEROKU_*");
    expect(script).toContain("ln -sf /opt/ferry/bin/ferry.js /usr/local/bin/ferry");
  });

  it("the runner downloads the RDS global CA bundle to where its Postgres URL points", () => {
    const script = runnerUserData({ ferryRepo: "https://github.com/example/ferry.git", ferryRef: "main" });
    expect(script).toContain(`curl -fsSL --retry 5 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem -o ${RDS_CA_BUNDLE}`);
    expect(script.indexOf("mkdir -p /etc/ferry")).toBeLessThan(script.indexOf("global-bundle.pem"));
  });
});

describe("small helpers", () => {
  it("shellQuote leaves plain words alone and makes everything else inert", () => {
    expect(shellQuote("pg")).toBe("pg");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's $(rm -rf /)")).toBe("'it'\\''s $(rm -rf /)'");
  });

  it("runnerPostgresUrl: verify-full; the EC2 runner's CA bundle", () => {
    const rds = "postgres://u:p%40s@app.abc123.us-east-1.rds.amazonaws.com:5432/app?sslmode=require";
    expect(runnerPostgresUrl(rds, { caFile: RDS_CA_BUNDLE })).toBe(
      "postgres://u:p%40s@app.abc123.us-east-1.rds.amazonaws.com:5432/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fferry%2Frds-global-bundle.pem",
    );
    expect(runnerPostgresUrl(rds)).toBe("postgres://u:p%40s@app.abc123.us-east-1.rds.amazonaws.com:5432/app?sslmode=verify-full");
  });

  it("portOf reads the source port without the rest of the URL", () => {
    expect(portOf("postgres://u:p@h:6432/db", 5432)).toBe(6432);
    expect(portOf("postgres://u:p@h/db", 5432)).toBe(5432);
    expect(portOf(undefined, 6379)).toBe(6379);
  });

  it("ACM's validation option becomes a DNS-only record without the root dot", () => {
    expect(validationRecord({ domainName: "a.example.com", resourceRecordName: "_abc.a.example.com.", resourceRecordType: "CNAME", resourceRecordValue: "_def.xyz.acm-validations.aws." }))
      .toEqual({ name: "_abc.a.example.com", type: "CNAME", content: "_def.xyz.acm-validations.aws", proxied: false, ttl: 60 });
  });
});
