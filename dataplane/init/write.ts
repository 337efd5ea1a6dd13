// Write the stack file `ferry init` drafted: validated with the program's own parser
// before anything is written, never over an existing file unless asked, and with no
// secret value in it (the secrets are `pulumi config set --secret` lines to run).
import * as fs from "fs";
import * as yaml from "js-yaml";
import { parseConfig } from "../../config/parse";
import { storeUrlStandins } from "../../config/stores/secrets";
import { FerryError } from "../cli/common";
import type { SourceInventory } from "./inventory";
import { TODO, StackDraft } from "./stack";

/** Valid-shaped stand-ins for the secrets, so the draft validates as it will once they are set. */
const SECRET_STANDINS: Record<string, string> = {
  "ferry:cloudflareApiToken": "stand-in",
  "ferry:herokuApiKey": "stand-in",
  "ferry:sourceDatabaseUrl": "postgres://stand-in:stand-in@source.invalid:5432/stand-in",
  "ferry:sourceRedisUrl": "redis://:stand-in@source.invalid:6379/0",
  "ferry:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----",
  "ferry:targetPostgresPassword": "stand-in-password-0000",
  "ferry:targetRedisPassword": "stand-in-password-0000",
};

/** Pulumi hands the program every value as a string, objects as JSON: validate the draft the same way. */
export function validateDraft(draft: StackDraft): void {
  const raw = Object.fromEntries(Object.entries(draft.config).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]));
  try {
    // The TODO stand-ins are the point of the draft: the user replaces them before `pulumi up`.
    parseConfig({ ...storeUrlStandins(draft.config["ferry:source"], SECRET_STANDINS), ...raw }, { allowPlaceholders: true });
  } catch (e) {
    throw new FerryError(`the drafted stack does not validate: ${(e as Error).message.split("\n")[0]}`, 1);
  }
}

/** The YAML with every stand-in value marked TODO on its line. */
export function renderStackFile(draft: StackDraft, takenAt: string): string {
  const comment = (lines: string[]) => lines.map((l) => `#   ${l}`);
  const header = [
    `# Written by \`ferry init\` on ${takenAt.slice(0, 10)} from what the source reported. Review it before \`pulumi preview\`.`,
    "# What was read:",
    ...comment(draft.read),
    "# What you must still decide (values marked TODO below are stand-ins: `pulumi up` and `ferry doctor` refuse them until replaced):",
    ...comment(draft.decide),
    "# Secrets are not in this file; set them with:",
    ...comment(draft.secrets),
  ];
  const body = yaml
    .dump({ config: draft.config }, { lineWidth: 140, noRefs: true })
    .split("\n")
    .map((line) => {
      // By key and value: the account and zone stand-ins share a value but not a meaning.
      const hit = Object.values(TODO).find((t) => line.includes(t.value) && line.trimStart().startsWith(t.key));
      return hit ? `${line}  # ${hit.note}` : line;
    });
  return [...header, ...body].join("\n");
}

export interface WrittenFiles {
  stackFile: string;
  inventoryFile: string;
}

/** An existing stack file is the user's work: refused unless `force`. */
export function refuseExisting(files: WrittenFiles, force: boolean): void {
  if (!force && fs.existsSync(files.stackFile)) throw new FerryError(`${files.stackFile} already exists; pass --force to overwrite it`, 2);
}

/** Refuse to overwrite unless `force`; validate; then write both files. Nothing is written on any failure. */
export function writeStack(draft: StackDraft, inventory: SourceInventory, files: WrittenFiles, force: boolean): void {
  refuseExisting(files, force);
  validateDraft(draft);
  const text = renderStackFile(draft, inventory.takenAt);
  fs.writeFileSync(files.stackFile, text.endsWith("\n") ? text : `${text}\n`);
  fs.writeFileSync(files.inventoryFile, `${JSON.stringify(inventory, null, 2)}\n`);
}
