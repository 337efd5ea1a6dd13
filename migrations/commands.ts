// The `ferry` command lines the stages run: the CLI contract's commands
// (dataplane/cli/contract.ts) joined with the shell quoting the runner's Command strings
// use. Only names, strategies and numbers go into a command line (Pulumi stores it in
// state); URLs and keys travel in the environment variables the contract names.
import { shellJoin } from "../components/shell";
import * as contract from "../dataplane/cli/contract";
import type { FerryCommand } from "../dataplane/cli/contract";

export { ENV, pgFenceOf, redisFenceOf } from "../dataplane/cli/contract";
export type { OldHost, OldSite, ProxyTarget } from "../dataplane/cli/contract";

type Joined<T> = { [K in keyof T]: T[K] extends (...args: infer A) => FerryCommand ? (...args: A) => string : never };

/** The same builders, each returning the command as one shell-quoted string. */
function joined<T extends Record<string, (...args: never[]) => FerryCommand>>(builders: T): Joined<T> {
  const entries = Object.entries(builders).map(([name, build]) => [name, (...args: never[]) => shellJoin(build(...args).argv)]);
  return Object.fromEntries(entries) as Joined<T>;
}

export const pg = joined(contract.pg);

/** Redis steps; Heroku Redis's self-signed TLS accepted explicitly (see contract.redis). */
export const redisSteps = (acceptSelfSignedTls: boolean) => joined(contract.redis(acceptSelfSignedTls));

export const traffic = joined(contract.traffic);

export const heroku = joined(contract.heroku);

export const box = joined(contract.box);

/** A URL without its password: identifies the source in `triggers` without storing a secret. */
export function urlIdentity(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ""}${u.host}${u.pathname}`;
}

/** The whole stack's cutover in one process (see contract.stack). */
export const stackSteps = (acceptSelfSignedTls: boolean) => joined(contract.stack(acceptSelfSignedTls));
