// What `ferry init` read from the source, saved beside the stack file as
// `ferry-inventory.<stack>.json`: the facts the stack file has no key for (dyno sizes,
// add-on plans and their prices, database sizes, what runs on a box). The stage plan
// reads it to price the source side and to estimate the cutover's write window. It never holds a secret: config var names only,
// log drains by host only, no connection URL.
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";

const cents = z.number().int().min(0).nullable();

export const herokuAppInventorySchema = z.strictObject({
  name: z.string(),
  region: z.string().nullable(),
  /** Process type -> command, from the current release's slug (or the formation when there is no slug). */
  processTypes: z.record(z.string(), z.string()),
  processTypesFrom: z.enum(["slug", "formation"]),
  formation: z.array(z.strictObject({ type: z.string(), quantity: z.number().int().min(0), size: z.string(), monthlyCentsEach: cents })),
  /** The add-ons this app owns (is billed for); a shared add-on is listed under its owner only, so the plan prices it once. */
  addons: z.array(z.strictObject({ name: z.string(), service: z.string(), plan: z.string(), configVars: z.array(z.string()), monthlyCents: cents })),
  /**
   * Every add-on attachment of the app (GET /apps/{app}/addon-attachments): each gives the
   * app `configVar` (NAME_URL), for its own add-on or one `addonApp` shares with it; the
   * service is null when the add-on is not listed to this key. Absent in files written before init read them.
   */
  attachments: z.array(z.strictObject({ name: z.string(), configVar: z.string(), addon: z.string(), addonApp: z.string(), service: z.string().nullable() })).optional(),
  domains: z.array(z.strictObject({ hostname: z.string(), kind: z.string(), cname: z.string().nullable() })),
  configVarNames: z.array(z.string()),
  /** Host of each log drain (the URL's path and credentials are left out). */
  logDrains: z.array(z.string()),
});

/** Something a box was asked about: what it answered, or why it did not. */
const found = <T extends z.ZodType>(shape: T) => z.union([z.strictObject({ found: z.literal(true), value: shape }), z.strictObject({ found: z.literal(false), reason: z.string() })]);

export const boxInventorySchema = z.strictObject({
  host: z.string(),
  user: z.string(),
  port: z.number().int(),
  /** bytes: pg_database_size; copiedBytes: what a copy moves (tables and their indexes), absent when the database refused the read. */
  postgres: found(z.strictObject({ version: z.string(), databases: z.array(z.strictObject({ name: z.string(), bytes: z.number(), copiedBytes: z.number().optional() })) })),
  redis: found(z.strictObject({ version: z.string(), usedMemoryBytes: z.number(), maxMemoryBytes: z.number(), keys: z.number() })),
  nginx: found(z.strictObject({
    serverNames: z.array(z.string()),
    /** The site the proxy stage takes over (ferry:source.nginx); absent in files written before init read it. */
    site: found(z.strictObject({
      siteConf: z.string(), listen: z.array(z.string()), sslListen: z.array(z.string()), sslCertificate: z.string(), sslCertificateKey: z.string(),
    })).optional(),
  })),
  /** systemd services that are not the data stores or the system's own, or app-looking processes from ps. */
  processes: found(z.strictObject({ from: z.enum(["systemd", "ps"]), names: z.array(z.string()) })),
  crontab: found(z.array(z.string())),
  /** What the box costs a month (its hosting plan): not readable over SSH, filled in by the user. */
  monthlyCents: cents,
});

/** The Heroku database's size as the database itself reports it (the Platform API does not tell). */
export const databaseSizeSchema = z.strictObject({
  app: z.string(),
  addon: z.string(),
  /** pg_database_size. */
  databaseBytes: z.number().int().min(0),
  /** What a copy moves: the tables it copies (heap and TOAST) and their indexes. */
  copiedBytes: z.number().int().min(0),
});

export const inventorySchema = z.discriminatedUnion("kind", [
  // postgres is optional: inventories written before init read the size stay valid.
  z.strictObject({ kind: z.literal("heroku"), takenAt: z.string(), apps: z.array(herokuAppInventorySchema), postgres: found(databaseSizeSchema).optional() }),
  z.strictObject({ kind: z.literal("box"), takenAt: z.string(), box: boxInventorySchema }),
]);

export type HerokuAppInventory = z.infer<typeof herokuAppInventorySchema>;
export type BoxInventory = z.infer<typeof boxInventorySchema>;
export type DatabaseSize = z.infer<typeof databaseSizeSchema>;
/** What init read, or why it could not. */
export type Found<T> = { found: true; value: T } | { found: false; reason: string };
export type SourceInventory = z.infer<typeof inventorySchema>;

export function inventoryFilePath(projectDir: string, stack: string): string {
  return path.join(projectDir, `ferry-inventory.${stack}.json`);
}

/** The saved inventory, undefined when there is none; a malformed one fails naming the file and key. */
export function readInventory(file: string): SourceInventory | undefined {
  if (!fs.existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  const parsed = inventorySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: ${issue.path.join(".") || "(top)"}: ${issue.message}`);
  }
  return parsed.data;
}
