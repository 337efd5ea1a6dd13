// `ferry init`: read the source (Heroku apps through the Platform API, or a box over
// SSH) and write `Pulumi.<stack>.yaml` plus `ferry-inventory.<stack>.json`. The
// Heroku key comes from HEROKU_API_KEY, the SSH key from a named environment variable
// or the agent; nothing secret is written or printed. Bad input ends in one line and
// exit 2, with nothing written.
import * as path from "path";
import { Command } from "commander";
import { action, emit, FerryError, GlobalOptions } from "../cli/common";
import { clientFromEnv } from "../heroku/cli";
import { parseHostTarget } from "../traffic/remote-host";
import { readBox, trustedHostKey } from "./box";
import { InitReadError, readHerokuApps, readHerokuDatabaseSize } from "./heroku";
import { SourceInventory, inventoryFilePath } from "./inventory";
import { DraftError, StackDraft, boxDraft, herokuDraft } from "./stack";
import { refuseExisting, writeStack } from "./write";

interface InitFlags {
  herokuApp: string[];
  box?: string;
  stack: string;
  dir: string;
  region: string;
  force?: boolean;
  vultrInstanceId?: string;
  sshKeyEnv?: string;
  knownHosts?: string;
  pgPort?: string;
  pgHost?: string;
  pgPassfile?: string;
  redisPort?: string;
  nginxConf?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function portFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new FerryError(`${flag} must be a port from 1 to 65535: ${JSON.stringify(value)}`, 2);
  return n;
}

function checkFlags(flags: InitFlags): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(flags.stack)) throw new FerryError(`--stack must be a stack name (letters, digits, - _ .): ${JSON.stringify(flags.stack)}`, 2);
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(flags.region)) throw new FerryError(`--region must be an AWS region such as us-east-1: ${JSON.stringify(flags.region)}`, 2);
  const sources = (flags.herokuApp.length ? 1 : 0) + (flags.box ? 1 : 0);
  if (sources !== 1) throw new FerryError("give either --heroku-app (one or more) or --box user@host[:port]", 2);
  for (const app of flags.herokuApp) {
    if (!/^[a-z][a-z0-9-]{2,29}$/.test(app)) throw new FerryError(`--heroku-app must be a Heroku app name: ${JSON.stringify(app)}`, 2);
  }
  if (flags.box && !/^([A-Za-z_][A-Za-z0-9._-]*@)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(flags.box)) {
    throw new FerryError(`--box must be user@host[:port]: ${JSON.stringify(flags.box)}`, 2);
  }
  if (flags.vultrInstanceId && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(flags.vultrInstanceId)) {
    throw new FerryError(`--vultr-instance-id must be a Vultr instance id (UUID): ${JSON.stringify(flags.vultrInstanceId)}`, 2);
  }
}

async function readSource(flags: InitFlags, opts: GlobalOptions): Promise<{ draft: StackDraft; inventory: SourceInventory }> {
  const takenAt = new Date().toISOString();
  if (flags.box) {
    const target = parseHostTarget(flags.box.replace(/^(?!.*@)/, "root@"));
    if (target.kind !== "ssh") throw new FerryError("--box must be user@host[:port]", 2);
    const box = await readBox(target, {
      pgPort: portFlag("--pg-port", flags.pgPort), pgHost: flags.pgHost, pgPassFile: flags.pgPassfile,
      redisPort: portFlag("--redis-port", flags.redisPort), nginxConf: flags.nginxConf,
    }, { keyEnv: flags.sshKeyEnv, knownHosts: flags.knownHosts });
    const hostKey = trustedHostKey(target, flags.knownHosts);
    return { draft: boxDraft(box, { region: flags.region, instanceId: flags.vultrInstanceId, hostKey }), inventory: { kind: "box", takenAt, box } };
  }
  const client = clientFromEnv(opts);
  const apps = await readHerokuApps(client, flags.herokuApp);
  const postgres = await readHerokuDatabaseSize(client, apps);
  return { draft: herokuDraft(apps, { region: flags.region }, postgres), inventory: { kind: "heroku", takenAt, apps, ...(postgres ? { postgres } : {}) } };
}

export function registerInitCommands(program: Command): void {
  program
    .command("init")
    .description("read the source and write Pulumi.<stack>.yaml (and the inventory the plan prices): --heroku-app A [--heroku-app B] or --box user@host")
    .option("--heroku-app <app>", "a Heroku app to move (repeat for each app); the key comes from HEROKU_API_KEY", collect, [])
    .option("--box <user@host[:port]>", "a self-managed box to read over SSH")
    .requiredOption("--stack <name>", "the stack to write (Pulumi.<name>.yaml)")
    .option("--dir <dir>", "the project directory (where Pulumi.yaml is)", ".")
    .option("--region <region>", "the AWS region to move to", "us-east-1")
    .option("--force", "overwrite an existing stack file")
    .option("--vultr-instance-id <uuid>", "the box's Vultr instance id (not readable over SSH)")
    .option("--ssh-key-env <VAR>", "environment variable holding the SSH private key (default: the ssh agent)")
    .option("--known-hosts <file>", "known_hosts file with the box's host key (default ~/.ssh/known_hosts)")
    .option("--pg-port <port>", "PostgreSQL's port on the box (default 5432)")
    .option("--pg-host <host-or-socket-dir>", "where psql connects on the box (default: the local socket)")
    .option("--pg-passfile <path>", "a pgpass file on the box (default: psql as the postgres user)")
    .option("--redis-port <port>", "Redis's port on the box (default 6379)")
    .option("--nginx-conf <path>", "nginx's main config on the box (default: nginx's own)")
    .action(
      action(async (flags: InitFlags, command: Command) => {
        const opts = command.optsWithGlobals() as GlobalOptions;
        checkFlags(flags);
        const dir = path.resolve(flags.dir);
        const files = { stackFile: path.join(dir, `Pulumi.${flags.stack}.yaml`), inventoryFile: inventoryFilePath(dir, flags.stack) };
        // Checked before reading the source too: an existing file should not cost an API round.
        refuseExisting(files, !!flags.force);
        let drafted: { draft: StackDraft; inventory: SourceInventory };
        try {
          drafted = await readSource(flags, opts);
        } catch (e) {
          if (e instanceof InitReadError) throw new FerryError(e.message, e.exitCode);
          if (e instanceof DraftError) throw new FerryError(e.message, 2);
          throw e;
        }
        writeStack(drafted.draft, drafted.inventory, files, !!flags.force);
        const result = { stackFile: files.stackFile, inventoryFile: files.inventoryFile, secrets: drafted.draft.secrets, decide: drafted.draft.decide };
        emit(opts, result, (r) => [
          `wrote ${r.stackFile} and ${r.inventoryFile}`,
          "still to decide (marked TODO in the file):",
          ...r.decide.map((d) => `  - ${d}`),
          "set the secrets (values never go in the file):",
          ...r.secrets.map((s) => `  ${s}`),
          "then: npm run plan -- --stack " + flags.stack,
        ].join("\n"));
      }),
    );
}
