// Stack files for the guard-rail tests: a Heroku and a Vultr stack as a user would
// write them (`Pulumi.<stack>.yaml`, secrets as `secure:` ciphertext), with the stage
// flags the test asks for.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";

import type { Flags } from "../program/stacks";

export type { Flags };
/** Every flag up to and including a stage, as the stage ladder requires (the program tests' helper). */
export { upTo as flagsUpTo } from "../program/stacks";

const CLOUDFLARE = { accountId: "0123456789abcdef0123456789abcdef", zoneId: "fedcba9876543210fedcba9876543210" };
const RECORD_ID = "00112233445566778899aabbccddeeff";
const secure = { secure: "v1:c2VjcmV0LWNpcGhlcnRleHQ=" };

/** The secrets both kinds of stack set (each adds the key that reaches its source). */
const SHARED_SECRETS = {
  "ferry:cloudflareApiToken": secure,
  "ferry:sourceDatabaseUrl": secure,
  "ferry:sourceRedisUrl": secure,
  "ferry:targetPostgresPassword": secure,
  "ferry:targetRedisPassword": secure,
};

const target = (origin: { type: string; content: string; proxied: boolean; ttl: number }) => ({
  region: "us-east-1",
  postgres: { instanceClass: "db.t4g.medium", storageGb: 20 },
  redis: { kind: "elasticache", nodeType: "cache.t4g.small" },
  compute: { processes: { web: { image: "ghcr.io/example/app:1.0", count: 1, command: "bin/web", port: 3000 } } },
  cloudflare: { ...CLOUDFLARE, hostnames: [{ name: "social.example.com", process: "web", record: { id: RECORD_ID, ...origin } }] },
  runner: { kind: "ec2", ami: "ami-0abcdef0123456789", sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPolicyTestRunnerKey ops@example", sshCidrs: ["203.0.113.7/32"], ferryRepo: "https://github.com/example/ferry.git" },
});

/** The adopted record of social.example.com in each stack. */
export const HEROKU_ORIGIN = { type: "CNAME", content: "tall-owl-0a1b2c.herokudns.com", proxied: false, ttl: 300 };
export const VULTR_ORIGIN = { type: "A", content: "198.51.100.20", proxied: true, ttl: 1 };

export function herokuConfig(flags: Flags = {}): Record<string, unknown> {
  return {
    "ferry:source": {
      kind: "heroku",
      apps: [{ name: "mastodon-web", processes: { web: 1, worker: 1 }, hostnames: ["social.example.com"] }],
      postgres: { app: "mastodon-web", addon: "postgresql-curved-12345" },
      redis: { app: "mastodon-web", addon: "redis-round-67890" },
    },
    "ferry:target": target(HEROKU_ORIGIN),
    "ferry:herokuApiKey": secure,
    "ferry:sshPrivateKey": secure,
    ...SHARED_SECRETS,
    ...flagEntries(flags),
  };
}

export function vultrConfig(flags: Flags = {}): Record<string, unknown> {
  return {
    "ferry:source": {
      kind: "vultr",
      instanceId: "8f3e1c2a-1b2c-4d5e-8f90-123456789abc",
      services: ["postgres", "redis", "nginx", "app"],
      ssh: { user: "root", port: 22, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPolicyTestBoxHostKey000000000000000000000" },
      units: { web: "mastodon-web" },
      nginx: { siteConf: "/etc/nginx/sites-enabled/mastodon", sslCertificate: "/etc/letsencrypt/live/social.example.com/fullchain.pem", sslCertificateKey: "/etc/letsencrypt/live/social.example.com/privkey.pem" },
    },
    // The old box forwards to the ALB over verified TLS: an ACM certificate for the hostname.
    "ferry:target": { ...target(VULTR_ORIGIN), certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789" },
    "ferry:sshPrivateKey": secure,
    ...SHARED_SECRETS,
    ...flagEntries(flags),
  };
}

/** Flags as `pulumi config set` stores them: strings, the hold map as an object. */
function flagEntries(flags: Flags): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(flags).map(([k, v]) => [`ferry:${k}`, typeof v === "object" ? v : String(v)]),
  );
}

let counter = 0;

/** Write `Pulumi.<stack>.yaml` into a fresh directory and return its path. */
export function writeStackFile(config: Record<string, unknown>, stack = "test"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-stack-${process.pid}-${counter++}-`));
  const file = path.join(dir, `Pulumi.${stack}.yaml`);
  fs.writeFileSync(file, yaml.dump({ config }));
  return file;
}
