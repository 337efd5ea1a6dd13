// Repoint a config var an add-on owns (DATABASE_URL while Heroku Postgres is attached as
// DATABASE). Heroku refuses (422) to overwrite an attachment's vars, so the documented way
// is to move the attachment: attach the same add-on under another name first (POST
// /addon-attachments with `name`), then detach the one that owns the var (DELETE
// /addon-attachments/{id}), then set the var
// (https://devcenter.heroku.com/articles/platform-api-reference#add-on-attachment).
// The add-on itself is never touched: its data and credentials stay, still attached to
// the app under the parking name, and the rollback attaches it back under its own name,
// which restores the var exactly as Heroku manages it.
import type { HerokuClient } from "./client";
import { addonUrl, attachmentsOf } from "./source-url";
import type { AddonAttachment } from "./types";

/** The attachment that gives the app `configVar`: Heroku names it NAME_URL (DATABASE -> DATABASE_URL). */
export function owningAttachment(attachments: AddonAttachment[], configVar: string): AddonAttachment | undefined {
  return attachments.find((a) => `${a.name}_URL` === configVar);
}

/** Where ferry parks the add-on while the var points elsewhere: FERRY_SOURCE_DATABASE (its var FERRY_SOURCE_DATABASE_URL). */
export function parkingName(attachmentName: string): string {
  return `FERRY_SOURCE_${attachmentName}`;
}

/** The attachment name a var is restored under: DATABASE_URL -> DATABASE. */
export function attachmentNameFor(configVar: string): string {
  return configVar.replace(/_URL$/, "");
}

export type RepointOutcome =
  | { action: "set"; app: string; configVar: string }
  | { action: "moved"; app: string; configVar: string; addon: string; parkedAs: string }
  | { action: "restored"; app: string; configVar: string; addon: string; attachedAs: string }
  | { action: "nothing-to-restore"; app: string; configVar: string };

/**
 * Make `configVar` hold `value`. If an attachment owns it, the add-on is first attached
 * under the parking name (kept if already there: a re-run after a failure resumes) and the
 * owning attachment is detached. Repointing to the value the parked add-on holds gives the
 * var back to the add-on instead (the rollback, through the same command line).
 */
export async function repoint(client: HerokuClient, app: string, configVar: string, value: string): Promise<RepointOutcome> {
  const attachments = await client.listAttachments(app);
  const parked = attachments.find((a) => a.name === parkingName(attachmentNameFor(configVar)));
  if (parked) {
    const vars = await client.getConfigVars(app);
    if (vars[`${parked.name}_URL`] === value) return restore(client, app, configVar);
  }
  const owner = owningAttachment(attachments, configVar);
  if (!owner) {
    await client.updateConfigVars(app, { [configVar]: value });
    return { action: "set", app, configVar };
  }
  const parkAs = parkingName(owner.name);
  if (!parked) await client.createAttachment(app, owner.addon.id, parkAs);
  await client.deleteAttachment(owner.id);
  await client.updateConfigVars(app, { [configVar]: value });
  return { action: "moved", app, configVar, addon: owner.addon.name, parkedAs: parkAs };
}

/**
 * The way back: unset the var ferry set, attach the parked add-on under its own name again
 * (Heroku sets the var to the add-on's current value), and drop the parking attachment.
 * With nothing parked it changes nothing, so it is safe as a Pulumi delete step.
 */
export async function restore(client: HerokuClient, app: string, configVar: string): Promise<RepointOutcome> {
  const name = attachmentNameFor(configVar);
  const attachments = await client.listAttachments(app);
  const parked = attachments.find((a) => a.name === parkingName(name));
  if (!parked) return { action: "nothing-to-restore", app, configVar };
  if (!attachments.some((a) => a.name === name)) {
    const vars = await client.getConfigVars(app);
    if (configVar in vars) await client.updateConfigVars(app, { [configVar]: null });
    await client.createAttachment(app, parked.addon.id, name);
  }
  await client.deleteAttachment(parked.id);
  return { action: "restored", app, configVar, addon: parked.addon.name, attachedAs: name };
}

/**
 * The way back that needs no copy of the source URL (Heroku rotates it): `configVar` gets
 * `addon`'s current value again. A parked add-on is attached under its own name again
 * (restore); otherwise the var is set to the URL the add-on's own attachments hold now. A
 * var the add-on already owns is left as it is.
 */
export async function repointToAddon(client: HerokuClient, app: string, configVar: string, addon: string): Promise<RepointOutcome> {
  const attachments = await client.listAttachments(app);
  if (attachments.some((a) => a.name === parkingName(attachmentNameFor(configVar)))) return restore(client, app, configVar);
  const owner = owningAttachment(attachments, configVar);
  if (owner && attachmentsOf([owner], addon).length > 0) return { action: "nothing-to-restore", app, configVar };
  return repoint(client, app, configVar, (await addonUrl(client, app, addon)).url);
}
