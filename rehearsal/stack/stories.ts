// The stories whose stores move before the app, or without it, as overrides of the
// staging example (Pulumi.staging.yaml): the same Heroku app, with a way in declared
// for its dynos (ferry:source.access) and the holds that keep the app where it is.
//   - story 002: Redis only, to Redis on EC2; the app stays on Heroku for good.
//   - story 000: Postgres first, then Redis, then the app (one hold raised per up).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";

export const STORIES = ["000", "002"] as const;
export type Story = (typeof STORIES)[number];

/** Redis on EC2: ElastiCache has no address a Heroku dyno can reach (config/access.ts). */
const REDIS_ON_EC2 = { kind: "ec2", instanceType: "t4g.small", ami: "ami-0abcdef0123456789" };

type StackDoc = { config: Record<string, unknown> };

/** Where a Heroku dyno finds the RDS CA bundle committed with the app (its slug's root is /app). */
export const DYNO_RDS_CA_FILE = "/app/config/rds-global-bundle.pem";

function story002(config: Record<string, unknown>): void {
  const source = config["ferry:source"] as Record<string, unknown>;
  // The stores published over TLS with their passwords: Common Runtime dynos have no fixed address.
  config["ferry:source"] = { ...source, access: { kind: "published" } };
  const target = config["ferry:target"] as Record<string, unknown>;
  config["ferry:target"] = { ...target, redis: REDIS_ON_EC2 };
  // Postgres stays on Heroku with the app: only Redis moves.
  config["ferry:hold"] = { app: "provision", postgres: "provision" };
}

function story000(config: Record<string, unknown>): void {
  const source = config["ferry:source"] as Record<string, unknown>;
  config["ferry:source"] = { ...source, access: { kind: "published", postgresCaFile: DYNO_RDS_CA_FILE } };
  const target = config["ferry:target"] as Record<string, unknown>;
  config["ferry:target"] = { ...target, redis: REDIS_ON_EC2 };
  // The first journey moves Postgres; the rehearsal then lifts the holds one at a time.
  config["ferry:hold"] = { app: "provision", redis: "replicate" };
}

/** The staging example with the story's overrides, written beside the report; its path. */
export function storyStackFile(projectDir: string, story: Story, outDir: string): string {
  const doc = yaml.load(readFileSync(join(projectDir, "Pulumi.staging.yaml"), "utf8")) as StackDoc;
  (story === "002" ? story002 : story000)(doc.config);
  const file = join(outDir, `Pulumi.story${story}.yaml`);
  writeFileSync(file, yaml.dump(doc, { lineWidth: 200 }));
  return file;
}
