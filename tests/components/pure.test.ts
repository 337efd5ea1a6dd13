// The pure pieces of the components: subnet layout, RDS parameters, boot
// scripts, source protection, URL rewriting. No Pulumi runtime.
import { describe, expect, it } from "vitest";
import { shellQuote } from "../../components/shell";
import { portOf, postgresParameters, runnerPostgresUrl, subnetCidrs } from "../../components/target";
import { RDS_CA_BUNDLE, redisUserData, runnerUserData } from "../../components/target/userData";
import { validationRecord } from "../../components/target/certificate";
import { mirrorRepositoryName, mirrorTag, parseImage, parseImageCopy, publicImages, qualified } from "../../components/target/images";

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

describe("image copies into ECR (components/target/images.ts)", () => {
  it("parses references as Docker does: no host is Docker Hub, one-part paths are under library/", () => {
    expect(parseImage("heroku/heroku:24")).toEqual({ host: "docker.io", path: "heroku/heroku", tag: "24", digest: undefined });
    expect(parseImage("redis")).toEqual({ host: "docker.io", path: "library/redis", tag: "latest", digest: undefined });
    expect(parseImage("ghcr.io/mastodon/mastodon:v4.3.0")).toMatchObject({ host: "ghcr.io", path: "mastodon/mastodon", tag: "v4.3.0" });
    expect(parseImage("localhost:5000/app@sha256:" + "a".repeat(64))).toEqual({ host: "localhost:5000", path: "app", tag: undefined, digest: "sha256:" + "a".repeat(64) });
    expect(qualified(parseImage("heroku/heroku:24"))).toBe("docker.io/heroku/heroku:24");
  });

  it("names each copy's repository by its registry and path under the stack", () => {
    expect(mirrorRepositoryName("ferry", parseImage("heroku/heroku:24"))).toBe("ferry/docker.io/heroku/heroku");
    expect(mirrorRepositoryName("ferry", parseImage("public.ecr.aws/aws-cli/aws-cli:2.22.35"))).toBe("ferry/public.ecr.aws/aws-cli/aws-cli");
    expect(mirrorTag(parseImage("x@sha256:" + "b".repeat(64)))).toBe("sha256-" + "b".repeat(64));
  });

  it("copies every public image the tasks run, and none already in a private ECR", () => {
    const config = (processes: Record<string, { image?: string }>) => ({ target: { compute: { stackImage: "heroku/heroku:24", fetchImage: "public.ecr.aws/aws-cli/aws-cli:2.22.35", processes } } }) as never;
    expect(publicImages(config({ web: {}, worker: { image: "ghcr.io/a/b:1" } }))).toEqual(["heroku/heroku:24", "public.ecr.aws/aws-cli/aws-cli:2.22.35", "ghcr.io/a/b:1"]);
    // An image task still runs the fetch image: its ca-fetch init container copies the RDS bundle.
    expect(publicImages(config({ web: { image: "123456789012.dkr.ecr.eu-central-1.amazonaws.com/app:1" } }))).toEqual(["public.ecr.aws/aws-cli/aws-cli:2.22.35"]);
  });

  it("reads the copy's digest from the step's output, and refuses anything else", () => {
    const image = `123456789012.dkr.ecr.us-east-1.amazonaws.com/ferry/docker.io/heroku/heroku@sha256:${"c".repeat(64)}`;
    expect(parseImageCopy(`Copying blob...\n{"source":"heroku/heroku:24","image":"${image}"}\n`, "heroku/heroku:24")).toBe(image);
    expect(() => parseImageCopy(`{"source":"heroku/heroku:24","image":"x:latest"}`, "heroku/heroku:24")).toThrow(/printed no image by digest/);
  });
});
