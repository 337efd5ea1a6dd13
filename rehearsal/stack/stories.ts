// The stories whose stores move before the app, or without it, as overrides of the
// staging example (Pulumi.staging.yaml): the same Heroku app, with a way in declared
// for its dynos (ferry:source.access) and the holds that keep the app where it is.
//   - story 002: Redis only, to Redis on EC2; the app stays on Heroku for good.
//   - story 000: Postgres first, then Redis, then the app (one hold raised per up).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";
import { FerryConfig, Stage, validateStages } from "../../config";
import { RDS_CA_BUNDLE } from "../../components/target/userData";

export const STORIES = ["000", "002"] as const;
export type Story = (typeof STORIES)[number];

/** Redis on EC2: ElastiCache has no address a Heroku dyno can reach (config/access.ts). */
const REDIS_ON_EC2 = { kind: "ec2", instanceType: "t4g.small", ami: "ami-0abcdef0123456789" };

type StackDoc = { config: Record<string, unknown> };

/**
 * Where the dynos find the RDS CA bundle. A real app commits it to its slug (/app/...);
 * the stand-in dynos run on this machine, each unpacked in a directory of its own, and
 * read the rehearsal's RDS CA where the runner's user data puts it (rds-bundle.ts).
 */
export const DYNO_RDS_CA_FILE = RDS_CA_BUNDLE;

/**
 * The example's ferry:target without its pooler: in these stories the app stays on Heroku
 * while the stores move (or for good), and the pooler serves the app on AWS only. The
 * cutover-app bench (bench/cutover-app.ts) rehearses a stack this way too: its app rolls
 * onto the target at cutover.
 */
export function targetWithoutPooler(config: Record<string, unknown>): Record<string, unknown> {
  const { pooler: _, ...target } = config["ferry:target"] as Record<string, unknown>;
  return target;
}

function story002(config: Record<string, unknown>): void {
  const source = config["ferry:source"] as Record<string, unknown>;
  // The stores published over TLS with their passwords: Common Runtime dynos have no fixed address.
  config["ferry:source"] = { ...source, access: { kind: "published" } };
  config["ferry:target"] = { ...targetWithoutPooler(config), redis: REDIS_ON_EC2 };
  // Postgres stays on Heroku with the app: only Redis moves.
  config["ferry:hold"] = { app: "provision", postgres: "provision" };
}

function story000(config: Record<string, unknown>): void {
  const source = config["ferry:source"] as Record<string, unknown>;
  config["ferry:source"] = { ...source, access: { kind: "published", postgresCaFile: DYNO_RDS_CA_FILE } };
  config["ferry:target"] = { ...targetWithoutPooler(config), redis: REDIS_ON_EC2 };
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

/** One `pulumi up` of a journey: its label in the report, the stage it stands for, its config. */
export interface JourneyUp {
  label: string;
  stage: Stage;
  config: FerryConfig;
}

function withStages(config: FerryConfig, stages: Partial<FerryConfig["stages"]>): FerryConfig {
  const next = { ...config, stages: { ...config.stages, ...stages } };
  validateStages(next);
  return next;
}

/**
 * Story 000 after its first journey (Postgres cut over, Redis held at replicate, the app
 * at provision): one up per hold lifted, as an operator edits the stack file. Redis cuts
 * over in a window of its own; the app walks the split with every flag already up (held at
 * proxy below 100), then cuts over, then everything is decommissioned.
 */
export function story000Later(afterPostgres: FerryConfig, splitSteps: number[]): JourneyUp[] {
  const redis = withStages(afterPostgres, { hold: { app: "provision" } });
  const split = [...splitSteps, 100].map((pct) => ({ label: `the app: proxy ${pct}%`, stage: "proxy" as const, config: withStages(redis, { hold: { app: "proxy" }, trafficPercent: pct }) }));
  const app = withStages(redis, { hold: {}, trafficPercent: 100 });
  return [
    { label: "cutover: Redis", stage: "cutover", config: redis },
    ...split,
    { label: "cutover: the app", stage: "cutover", config: app },
    { label: "decommission", stage: "decommission", config: withStages(app, { decommission: true }) },
  ];
}

/**
 * A story's ups: its stack's own journey (each flag raised with the stack file's holds),
 * then, for story 000, the ups that lift the holds. `upTo` stops at the first up of that stage.
 */
export function storyUps(story: Story, config: FerryConfig, upTo: Stage, splitSteps: number[], stackJourney: (config: FerryConfig, upTo: Stage) => JourneyUp[]): JourneyUp[] {
  const first = stackJourney(config, story === "000" ? "cutover" : upTo);
  const ups = story === "000" ? [...first, ...story000Later(first[first.length - 1].config, splitSteps)] : first;
  const end = ups.findIndex((u) => u.stage === upTo);
  return end < 0 ? ups : ups.slice(0, end + 1);
}
