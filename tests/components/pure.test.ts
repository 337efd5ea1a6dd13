// The pure pieces of the components: subnet layout, RDS parameters, boot
// scripts, source protection, URL rewriting. No Pulumi runtime.
import { describe, expect, it } from "vitest";
import { sourceResourceOptions } from "../../components/source/options";
import { shellQuote } from "../../components/shell";
import { portOf, postgresParameters, subnetCidrs, withAddress } from "../../components/target";
import { redisUserData, runnerUserData } from "../../components/target/userData";
import { listenerPort } from "../../components/target/ingress";

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
});

describe("sourceResourceOptions", () => {
  it("protects and retains source stores until decommission", () => {
    for (const stage of ["provision", "replicate", "proxy", "cutover"] as const) {
      expect(sourceResourceOptions(stage)).toEqual({ protect: true, retainOnDelete: true });
    }
    expect(sourceResourceOptions("decommission")).toEqual({ protect: false, retainOnDelete: false });
  });
});

describe("small helpers", () => {
  it("shellQuote leaves plain words alone and makes everything else inert", () => {
    expect(shellQuote("pg")).toBe("pg");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's $(rm -rf /)")).toBe("'it'\\''s $(rm -rf /)'");
  });

  it("withAddress swaps host:port and keeps credentials and path", () => {
    expect(withAddress("postgres://u:p%40ss@db.internal:5432/app?sslmode=require", "localhost:15432")).toBe("postgres://u:p%40ss@localhost:15432/app?sslmode=require");
    expect(withAddress("rediss://:pw@cache:6379/0", undefined)).toBe("rediss://:pw@cache:6379/0");
  });

  it("portOf reads the source port without the rest of the URL", () => {
    expect(portOf("postgres://u:p@h:6432/db", 5432)).toBe(6432);
    expect(portOf("postgres://u:p@h/db", 5432)).toBe(5432);
    expect(portOf(undefined, 6379)).toBe(6379);
  });

  it("the load balancer listens on 443 only with a certificate", () => {
    expect(listenerPort("arn:aws:acm:us-east-1:123456789012:certificate/abc")).toBe(443);
    expect(listenerPort(undefined)).toBe(80);
  });
});
