// The example stacks (Pulumi.staging.yaml: heroku, Pulumi.prod.yaml: vultr) as Pulumi
// hands them to the program, with fake secrets and the stage flags a test asks for.
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { createHash } from "crypto";


export const FAKE_SECRETS = {
  "ferry:cloudflareApiToken": "cf-token-SECRET-0001",
  "ferry:herokuApiKey": "heroku-key-SECRET-0002",
  "ferry:sourceDatabaseUrl": "postgres://app:pgpass-SECRET-0003@source.example.net:5432/app",
  "ferry:sourceRedisUrl": "rediss://:redispass-SECRET-0004@source.example.net:6380/0",
  "ferry:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nsshkey-SECRET-0005\n-----END OPENSSH PRIVATE KEY-----",
  "ferry:targetPostgresPassword": "targetpg-SECRET-0006xx",
  "ferry:targetRedisPassword": "targetredis-SECRET-0007",
};
export const SECRET_MARK = "SECRET-000";
/** The keys a stack stores encrypted (`pulumi config set --secret`): Pulumi lists them to the program. */
export const FAKE_SECRET_KEYS = Object.keys(FAKE_SECRETS);

/**
 * What `ferry --json heroku addons|domains --app A` prints for the staging apps: it
 * matches Pulumi.staging.yaml. masto-streaming is a newer app, whose herokuapp.com
 * domain carries Heroku's random suffix.
 */
export const FAKE_HEROKU: Record<string, { addons: object[]; domains: object[] }> = {
  "masto-web": {
    addons: [
      { name: "postgresql-curved-12345", service: "heroku-postgresql", plan: "heroku-postgresql:standard-0", state: "provisioned", configVars: ["DATABASE_URL"] },
      { name: "redis-rigid-67890", service: "heroku-redis", plan: "heroku-redis:premium-0", state: "provisioned", configVars: ["REDIS_URL", "REDIS_TLS_URL"] },
      { name: "papertrail-flat-11111", service: "papertrail", plan: "papertrail:choklad", state: "provisioned", configVars: ["PAPERTRAIL_API_TOKEN"] },
    ],
    domains: [
      { hostname: "masto-web.herokuapp.com", kind: "heroku", cname: null, status: "none" },
      { hostname: "staging.social.example.com", kind: "custom", cname: "tall-owl-0a1b2c.herokudns.com", status: "succeeded" },
    ],
  },
  "masto-streaming": {
    addons: [],
    domains: [
      { hostname: "masto-streaming-5f0c2b1a9d3e.herokuapp.com", kind: "heroku", cname: null, status: "none" },
      { hostname: "streaming.staging.social.example.com", kind: "custom", cname: "quiet-elk-3d4e5f.herokudns.com", status: "succeeded" },
    ],
  },
};

/** The stdout a Heroku read step prints under mocks (undefined for any other command). */
export function fakeHerokuRead(create: unknown): string | undefined {
  const m = /^ferry --json heroku (addons|domains) --app (\S+)$/.exec(String(create));
  if (!m) return undefined;
  const [, what, app] = m as unknown as [string, "addons" | "domains", string];
  const listing = FAKE_HEROKU[app];
  if (!listing) throw new Error(`no fake Heroku app ${app}`);
  return JSON.stringify({ app, [what]: listing[what] }, null, 2) + "\n";
}

/** What `ferry --json heroku release --app A` prints for the staging apps (the slug each runs). */
export const FAKE_RELEASES: Record<string, object> = {
  "masto-web": {
    app: "masto-web", version: 42, releaseId: "0f0e0d0c-0000-4000-8000-000000000042", slugId: "5106a1e1-0000-4000-8000-0000000000aa", stack: "heroku-24",
    processTypes: { web: "bundle exec puma -C config/puma.rb", worker: "bundle exec sidekiq", release: "bundle exec rails db:migrate" },
    commit: "7c2d9e1", checksum: `SHA256:${"a".repeat(64)}`, size: 104857600,
  },
  "masto-streaming": {
    app: "masto-streaming", version: 7, releaseId: "0f0e0d0c-0000-4000-8000-000000000007", slugId: "5106a1e1-0000-4000-8000-0000000000bb", stack: "heroku-24",
    processTypes: { web: "node ./streaming/index.js" },
    commit: "7c2d9e1", checksum: `SHA256:${"b".repeat(64)}`, size: 20971520,
  },
};

/** The stdout of a release read under mocks (undefined for any other command). */
export function fakeHerokuRelease(create: unknown): string | undefined {
  const m = /^ferry --json heroku release --app (\S+)$/.exec(String(create));
  if (!m) return undefined;
  const release = FAKE_RELEASES[m[1]];
  if (!release) throw new Error(`no fake Heroku release for app ${m[1]}`);
  return JSON.stringify(release, null, 2) + "\n";
}

/** What `ferry --json pg replicate --strategy dump` prints: the trial copy's result. */
export const FAKE_TRIAL = { tables: 41, rows: 5_260_000, bytes: 1_218_000_000, durationMs: 28_900, phases: [{ name: "data", ms: 20_100 }], sequences: 40, indexesBuiltEarly: 60, warnings: [], strategy: "dump", trial: true };

export function fakeTrialCopy(create: unknown): string | undefined {
  return /^ferry --json pg replicate --strategy dump$/.test(String(create)) ? JSON.stringify(FAKE_TRIAL, null, 2) + "\n" : undefined;
}

/** The config var names of the staging apps on Heroku (values never leave Heroku and Secrets Manager). */
export const FAKE_CONFIG_VAR_NAMES: Record<string, string[]> = {
  // Mastodon's media: its own bucket and credentials (S3_BUCKET, AWS_*), which must survive the move.
  "masto-web": ["AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "LOCAL_DOMAIN", "OTP_SECRET", "PAPERTRAIL_API_TOKEN", "RAILS_ENV", "REDIS_TLS_URL", "REDIS_URL", "S3_BUCKET", "SECRET_KEY_BASE", "SMTP_PASSWORD"],
  "masto-streaming": ["DATABASE_URL", "NODE_ENV", "REDIS_URL", "STREAMING_CLUSTER_NUM"],
};

/** What `ferry --json heroku config copy --app A --secret-id S [--exclude K,...]` prints under mocks. */
export function fakeConfigCopy(create: unknown): string | undefined {
  const m = /^ferry --json heroku config copy --app (\S+) --secret-id (\S+) --region \S+(?: --exclude (\S+))?$/.exec(String(create));
  if (!m) return undefined;
  const all = FAKE_CONFIG_VAR_NAMES[m[1]];
  if (!all) throw new Error(`no fake Heroku config vars for app ${m[1]}`);
  const exclude = (m[3] ?? "").split(",");
  const names = all.filter((n) => !exclude.includes(n));
  return JSON.stringify({ app: m[1], secretId: m[2], versionId: `v-${m[1]}-0001`, names, excluded: all.filter((n) => exclude.includes(n)) }) + "\n";
}

/** The box's env file names (prod), as `ferry --json box config copy` prints them under mocks. */
export const FAKE_BOX_VAR_NAMES = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DB_HOST", "LOCAL_DOMAIN", "OTP_SECRET", "RAILS_ENV", "S3_BUCKET", "SECRET_KEY_BASE", "SMTP_PASSWORD", "VAPID_PRIVATE_KEY"];

export function fakeBoxConfigCopy(create: unknown): string | undefined {
  const m = /^ferry --json box config copy --host \S+ --ssh-key-env FERRY_SSH_KEY --host-key '[^']+' --env-file \S+ --secret-id (\S+) --region \S+(?: --exclude (\S+))?$/.exec(String(create));
  if (!m) return undefined;
  const exclude = (m[2] ?? "").split(",");
  return JSON.stringify({ host: "root@203.0.113.20:22", secretId: m[1], versionId: "v-box-0001", names: FAKE_BOX_VAR_NAMES.filter((n) => !exclude.includes(n)), excluded: FAKE_BOX_VAR_NAMES.filter((n) => exclude.includes(n)) }) + "\n";
}

/** A stack file as Pulumi hands it to the program: every value a string, objects as JSON. */
export function stackConfig(stack: "staging" | "prod"): Record<string, string> {
  const file = path.join(__dirname, "..", "..", `Pulumi.${stack}.yaml`);
  const parsed = yaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
  const raw = Object.fromEntries(
    Object.entries(parsed.config).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]),
  );
  return { ...raw, ...FAKE_SECRETS };
}

export type Flags = Partial<Record<"replicate" | "proxy" | "cutover" | "decommission", boolean>> & { trafficPercent?: number; hold?: Record<string, string> };

export function withFlags(raw: Record<string, string>, flags: Flags): Record<string, string> {
  const out = { ...raw };
  for (const [k, v] of Object.entries(flags)) out[`ferry:${k}`] = typeof v === "object" ? JSON.stringify(v) : String(v);
  return out;
}

/**
 * Stage flags for "everything up to and including `stage`". From cutover on the traffic
 * share is 100, as a user must have raised it by then (validateStages refuses less);
 * `extra` overrides it.
 */
export function upTo(stage: "provision" | "replicate" | "proxy" | "cutover" | "decommission", extra: Flags = {}): Flags {
  const order = ["replicate", "proxy", "cutover", "decommission"] as const;
  const n = stage === "provision" ? 0 : order.indexOf(stage) + 1;
  const share = n >= 3 ? { trafficPercent: 100 } : {};
  return { ...Object.fromEntries(order.map((f, i) => [f, i < n])), ...share, ...extra };
}

/** What an image copy into ECR prints (components/target/images.ts): the copy by a digest of the source's name. */
export function fakeImageCopy(create: unknown): string | undefined {
  const m = /printf '\{"source":"%s","image":"%s@%s"\}\\n' (\S+) (\S+) "\$\(cat/.exec(String(create));
  if (!m) return undefined;
  const unquote = (s: string) => s.replace(/^'|'$/g, "");
  const digest = createHash("sha256").update(unquote(m[1])).digest("hex");
  return JSON.stringify({ source: unquote(m[1]), image: `${unquote(m[2])}@sha256:${digest}` }) + "\n";
}

/** What the pooler's bundle upload prints: the bundle's key, a hash of the bucket it went to. */
export function fakeBundleUpload(create: unknown): string | undefined {
  const m = /"s3:\/\/([^/"]+)\/ferry\/ferry-\$h\.js"\nprintf '\{"key":"ferry\/ferry-%s\.js"\}/.exec(String(create));
  if (!m) return undefined;
  return JSON.stringify({ key: `ferry/ferry-${createHash("sha256").update(m[1]).digest("hex").slice(0, 32)}.js` }) + "\n";
}

/** What the pooler's TLS step prints: its CA certificate (public), one per set of replica names. */
export function fakePoolerTls(create: unknown): string | undefined {
  const m = /-subj '\/CN=ferry pooler CA'[\s\S]*subjectAltName=([^' ]+)/.exec(String(create));
  if (!m) return undefined;
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(m[1]).toString("base64")}\n-----END CERTIFICATE-----\n`;
}

/** What any step the program declares prints under a recording provider: the Heroku reads, the release read, the config copies, the image copies, the pooler's steps. */
export function fakeStepStdout(create: unknown): string | undefined {
  return fakeHerokuRelease(create) ?? fakeConfigCopy(create) ?? fakeBoxConfigCopy(create) ?? fakeImageCopy(create) ?? fakeBundleUpload(create) ?? fakePoolerTls(create) ?? fakeHerokuRead(create);
}
