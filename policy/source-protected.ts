// Until decommission the source is the only complete copy of the data: every resource
// that stands for a source data store must be read (never deleted by Pulumi) or `protect`ed, and no command that destroys
// one (Heroku add-on release, dropping the source's publication and slot) may exist
// before its component reaches decommission. At decommission, such a command must depend
// on its store's final backup (`ferry pg backup`, `ferry redis backup`): no backup, no
// release. A stack validation: reads (`X.get`) never reach resource validations, but
// they are in the stack the engine hands over, with each resource's dependencies.
import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { Component, FerryConfig, atLeast, componentStage, componentsOf } from "../config";
import { knownOr, withFerryConfig } from "./judge";
import { STACK_CONFIG_SCHEMA } from "./stack-config";

/** Resource types that hold source data (the Vultr box runs the source PostgreSQL and Redis). */
export const SOURCE_STORE_TYPES = ["vultr:index/instance:Instance", "vultr:index/database:Database"];
export const COMMAND_TYPES = ["command:local:Command", "command:remote:Command"];

/** The data stores of this source; an app-only source protects its box until the app is decommissioned. */
function storesOf(config: FerryConfig): Component[] {
  const stores = componentsOf(config.source).filter((c) => c !== "app");
  return stores.length > 0 ? stores : ["app"];
}

function released(config: FerryConfig, component: Component): boolean {
  return atLeast(componentStage(component, config.stages), "decommission");
}

/** Which source store a command's create string destroys, if any. */
export function destroyedStore(config: FerryConfig, create: string): Component | undefined {
  // Heroku grants no REPLICATION role, so ferry makes no publication or slot there: its
  // cleanup drops only capture's own triggers and change log, none of the app's data.
  if (/\bferry\b.*\bpg cleanup\b/.test(create)) return config.source.kind === "heroku" ? undefined : "postgres";
  const addon = /\bferry\b.*\bheroku destroy-addon\b.*--addon (\S+)/.exec(create)?.[1]?.replace(/^'|'$/g, "");
  if (!addon) return undefined;
  const source = config.source;
  if (source.kind !== "heroku") return undefined;
  if (source.postgres?.addon === addon) return "postgres";
  if (source.redis?.addon === addon) return "redis";
  return "app"; // an add-on ferry does not know about: only once everything is released
}

/** Which source store a command's create string backs up, if any. */
export function backedUpStore(create: string): Component | undefined {
  const m = /\bferry\b.*\b(pg|redis) backup\b/.exec(create);
  return m ? (m[1] === "pg" ? "postgres" : "redis") : undefined;
}

/**
 * Whether `dependency` is the final backup of `store`. Its command line names the
 * stack's bucket, unknown in a preview before the bucket exists: then its name says it.
 */
function backsUp(dependency: PolicyResource, store: Component): boolean {
  if (!COMMAND_TYPES.includes(dependency.type)) return false;
  const create = knownOr(() => dependency.props.create, undefined);
  return typeof create === "string" ? backedUpStore(create) === store : dependency.name.endsWith(`-${store}-backup`);
}

/**
 * The component that reads the source box with `vultr.Instance.get` and declares nothing
 * else: a read resource is never updated or deleted by Pulumi, so it needs no `protect`
 * (and the engine does not record `protect` on a read, so demanding it fails every real
 * preview). The analyzer does not say which resources are reads; the parent does, and the
 * provider rules of the program tests hold the component to reading only.
 */
export const SOURCE_READER_TYPES = ["ferry:source:VultrBox"];

function isRead(resource: PolicyResource): boolean {
  return resource.parent !== undefined && SOURCE_READER_TYPES.includes(resource.parent.type);
}

function checkStore(config: FerryConfig, resource: PolicyResource, report: ReportViolation): void {
  const stores = storesOf(config);
  if (stores.every((c) => released(config, c)) || resource.opts.protect || isRead(resource)) return;
  report(`${resource.type} ${resource.name} holds source data and must be protected until ${stores.join(" and ")} reach decommission`, resource.urn);
}

function checkCommand(config: FerryConfig, resource: PolicyResource, report: ReportViolation): void {
  // A create string computed from another resource is unknown in a preview; the
  // destroying commands are literal strings, so an unknown one is never one of them.
  const create = knownOr(() => resource.props.create, undefined);
  if (typeof create !== "string") return;
  const store = destroyedStore(config, create);
  if (!store) return;
  if (released(config, store)) {
    // An add-on ferry does not know about ("app") holds nothing ferry backs up.
    if (store !== "app" && !resource.dependencies.some((d) => backsUp(d, store))) {
      report(`${resource.name} destroys the source ${store} (\`${create}\`) without depending on its final backup (\`ferry ${store === "postgres" ? "pg" : "redis"} backup\`): no backup, no release`, resource.urn);
    }
    return;
  }
  report(`${resource.name} destroys the source ${store} (\`${create}\`) while ${store} is at ${componentStage(store, config.stages)}; only allowed at decommission`, resource.urn);
}

export function validateSourceProtected(args: StackValidationArgs, report: ReportViolation): void {
  const first = args.resources[0];
  if (!first) return;
  withFerryConfig({ urn: first.urn, getConfig: args.getConfig }, report, (config) => {
    for (const resource of args.resources) {
      if (SOURCE_STORE_TYPES.includes(resource.type)) checkStore(config, resource, report);
      if (COMMAND_TYPES.includes(resource.type)) checkCommand(config, resource, report);
    }
  });
}

export const sourceProtected: StackValidationPolicy = {
  name: "ferry-source-protected",
  description: "Source data stores are protected, and nothing destroys them, until their component reaches decommission, and then only after their final backup.",
  enforcementLevel: "mandatory",
  configSchema: STACK_CONFIG_SCHEMA,
  validateStack: validateSourceProtected,
};
