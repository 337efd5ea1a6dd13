// Adding or removing an internet way in (ferry:source.access kind box, static-egress or
// published) on a running stack moves Redis on EC2 between a private subnet and a public
// one with a public address, both fixed at launch: the provider replaces the instance,
// and the engine creates the new, empty one before the old one's delete fails on its
// termination protection, so the stack's Redis URLs would name the empty one. A Command
// that Redis's instance depends on refuses that change once Redis holds data: its `create`
// records the exposure, so a changed exposure runs its `update`, which fails with one line
// naming the key, and the engine never reaches the instance.
import { ACCESS_KEY } from "../../config/access";
import { shellQuote } from "../shell";
import { ENV } from "../../dataplane/cli/contract";

export interface ExposureGuardCommands {
  create: string;
  update: string;
}

/** The guard's commands for Redis on EC2 reached from the internet (`internet`) or not, holding data or not. */
export function redisExposureGuard(internet: boolean, holdsData: boolean): ExposureGuardCommands {
  const recorded = `Redis on EC2 reached from the internet: ${internet ? "yes" : "no"}`;
  const create = `echo ${shellQuote(recorded)}`;
  if (!holdsData) return { create, update: create };
  const change = internet ? "adding an internet way in (kind box, static-egress or published)" : "removing the internet way in";
  const message = `${ACCESS_KEY}: ${change} would replace Redis on EC2 (its subnet and public address are fixed at launch) while it holds data; put ${ACCESS_KEY} back as it was (declare it at provision, before ferry:replicate)`;
  // The update also runs when only this command's text changed (Redis came to hold data at
  // replicate, the exposure as it was): it refuses only an exposure other than the one the
  // last run recorded, which the provider hands it as its previous stdout.
  return { create, update: `if [ "$${ENV.previousStdout}" = ${shellQuote(recorded)} ]; then ${create}; else echo ${shellQuote(message)} >&2; exit 1; fi` };
}
