// The imperative steps of the app plane, as command strings for the runner (secrets only
// ever in the step's environment): read a Heroku app's current release, copy its slug
// into the stack's bucket, and run a release phase as a one-off Fargate task that must
// exit 0 before the services take the new task definitions.
import * as contract from "../../../dataplane/cli/contract";
import { shellJoin, shellQuote } from "../../shell";

/** What `ferry --json heroku release --app A` prints (dataplane/heroku/cli.ts). */
export interface CurrentRelease {
  app: string;
  version: number;
  slugId: string;
  stack: string;
  processTypes: Record<string, string>;
  commit: string | null;
}

/**
 * What a step's output stands for before the step has run (under the stage plan's mocks a
 * step prints nothing): a value that says so wherever it shows up. The stage plan prints
 * it as "(known after pulumi up)".
 */
export const UNREAD = "unread-until-pulumi-up";

export const releaseRead = (app: string) => shellJoin(contract.heroku.release(app).argv);

/** The release a read step printed; throws naming the app on anything else. */
export function parseCurrentRelease(stdout: string, app: string): CurrentRelease {
  let parsed: Partial<CurrentRelease>;
  try {
    parsed = JSON.parse(stdout) as Partial<CurrentRelease>;
  } catch {
    throw new Error(`\`ferry heroku release --app ${app}\` did not print JSON: ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  const types = parsed.processTypes;
  const typesOk = !!types && typeof types === "object" && Object.values(types).every((c) => typeof c === "string");
  if (parsed.app !== app || typeof parsed.version !== "number" || typeof parsed.slugId !== "string" || typeof parsed.stack !== "string" || !typesOk) {
    throw new Error(`\`ferry heroku release --app ${app}\` printed no release (app, version, slugId, stack, processTypes)`);
  }
  return { app, version: parsed.version, slugId: parsed.slugId, stack: parsed.stack, processTypes: { ...types }, commit: parsed.commit ?? null };
}

/** The stack images ferry runs slugs on: Heroku's `heroku-NN` is `heroku/heroku:NN`. */
export function checkStack(release: CurrentRelease, stackImage: string): void {
  const m = /^heroku-(\d+)$/.exec(release.stack);
  if (!m) throw new Error(`Heroku app ${release.app} v${release.version} is on stack ${release.stack}: ferry runs slugs of heroku-NN stacks only`);
  const tag = /^heroku\/heroku:(\d+)/.exec(stackImage);
  if (tag && tag[1] !== m[1]) {
    throw new Error(`ferry:target.compute.stackImage: ${stackImage} does not match ${release.app}'s stack ${release.stack}; use heroku/heroku:${m[1]}`);
  }
}

export const slugKey = (app: string, slugId: string) => `slugs/${app}/${slugId}.tgz`;

/**
 * Copy a slug out of Heroku into s3://bucket/slugs/APP/ID.tgz, once per slug: `ferry
 * heroku slug` checks Heroku's SHA-256, then the upload. Nothing secret in the string
 * (HEROKU_API_KEY is in the step's environment).
 */
export function slugCopyCommand(app: string, slugId: string, bucket: string, region: string): string {
  const dest = `s3://${bucket}/${slugKey(app, slugId)}`;
  return [
    "set -eu",
    // A directory of its own, so the contract's command names a plain relative file.
    'd=$(mktemp -d); trap \'rm -rf "$d"\' EXIT; cd "$d"',
    shellJoin(contract.heroku.slug(app, slugId, "slug.tgz").argv),
    `aws s3 cp --only-show-errors --region ${shellQuote(region)} slug.tgz ${shellQuote(dest)}`,
  ].join("\n");
}

export interface RunTaskArgs {
  region: string;
  cluster: string;
  taskDefinition: string;
  subnets: string[];
  securityGroups: string[];
  /** What the task is, for the messages (e.g. "release phase of masto-web v42"). */
  what: string;
  /** How often to ask whether the task stopped, and how many times before giving up (default every 2 s, for 2 hours). */
  poll?: { seconds: number; attempts: number };
}

const RELEASE_POLL = { seconds: 2, attempts: 3600 };

/**
 * Run one Fargate task to completion and fail unless its app container exited 0: the
 * step that orders a release phase before the service updates (a failed step stops the
 * resources that depend on it, so the services keep their old task definition).
 * It asks DescribeTasks every 2 s whether the task stopped, rather than run `aws ecs wait
 * tasks-stopped`: that waiter polls every 6 s and gives up after 100 polls
 * (https://docs.aws.amazon.com/cli/latest/reference/ecs/wait/tasks-stopped.html), and at
 * cutover the release phase runs while writes wait, so each second it oversleeps counts.
 * A failed poll (throttled, say) is only a poll that did not say STOPPED.
 */
export function runTaskCommand(a: RunTaskArgs): string {
  const q = shellQuote;
  const network = `awsvpcConfiguration={subnets=[${a.subnets.join(",")}],securityGroups=[${a.securityGroups.join(",")}],assignPublicIp=DISABLED}`;
  const ecs = `aws ecs --region ${q(a.region)}`;
  const poll = a.poll ?? RELEASE_POLL;
  return [
    "set -eu",
    `task=$(${ecs} run-task --cluster ${q(a.cluster)} --task-definition ${q(a.taskDefinition)} --launch-type FARGATE --started-by ferry-release --network-configuration ${q(network)} --query 'tasks[0].taskArn' --output text)`,
    `case "$task" in arn:*) ;; *) echo ${q(`ferry: ${a.what}: the task did not start`)} >&2; exit 1 ;; esac`,
    `n=0; until [ "$(${ecs} describe-tasks --cluster ${q(a.cluster)} --tasks "$task" --query 'tasks[0].lastStatus' --output text 2>/dev/null || true)" = STOPPED ]; do ` +
      `n=$((n + 1)); if [ "$n" -ge ${poll.attempts} ]; then echo ${q(`ferry: ${a.what}: still running after ${waited(poll)}; stopping it`)} >&2; ${ecs} stop-task --cluster ${q(a.cluster)} --task "$task" >/dev/null; exit 1; fi; sleep ${poll.seconds}; done`,
    `code=$(${ecs} describe-tasks --cluster ${q(a.cluster)} --tasks "$task" --query "tasks[0].containers[?name=='app'].exitCode | [0]" --output text)`,
    `if [ "$code" != 0 ]; then echo "ferry: ${a.what.replace(/["$`\\]/g, "")} failed (exit $code; logs in CloudWatch); the services keep the previous release" >&2; exit 1; fi`,
    `echo ${q(`ferry: ${a.what} succeeded`)}`,
  ].join("\n");
}

/** "2 hours", "30 s": how long `poll` waits in all. */
function waited(poll: { seconds: number; attempts: number }): string {
  const total = poll.seconds * poll.attempts;
  return total >= 3600 && total % 3600 === 0 ? `${total / 3600} hour${total === 3600 ? "" : "s"}` : `${total} s`;
}

/** What `ferry --json heroku config copy` prints: names and the new version, never values. */
export interface CopiedVars {
  names: string[];
  versionId: string;
}

/** Copy a Heroku app's config vars into `secretArn`, leaving out `exclude` (HEROKU_API_KEY in the environment). */
export function configCopyCommand(app: string, secretArn: string, region: string, exclude: string[]): string {
  return shellJoin(contract.heroku.configCopy(app, { secretArn, region, exclude }).argv);
}

/** Copy a box's env file over SSH into `secretArn` (the key in FERRY_SSH_KEY, never in the string; the host key is public). */
export function boxConfigCopyCommand(a: { host: string; hostKey: string; envFile: string; secretArn: string; region: string; exclude: string[] }): string {
  return shellJoin(contract.box.configCopy({ ssh: a.host, hostKey: a.hostKey }, a.envFile, a).argv);
}

/** What a config copy printed (`app` undefined: a box's copy, which names no app). */
export function parseCopiedVars(stdout: string, app: string | undefined): CopiedVars {
  const what = app === undefined ? "`ferry box config copy`" : `\`ferry heroku config copy --app ${app}\``;
  let parsed: { app?: unknown; names?: unknown; versionId?: unknown };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`${what} did not print JSON`);
  }
  const names = parsed.names;
  if ((app !== undefined && parsed.app !== app) || typeof parsed.versionId !== "string" || !Array.isArray(names) || !names.every((n) => typeof n === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(n))) {
    throw new Error(`${what} printed no names and versionId`);
  }
  return { names: [...names] as string[], versionId: parsed.versionId };
}
