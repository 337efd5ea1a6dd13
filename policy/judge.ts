// Run a stage-aware check against the stack's ferry config. A config the pack cannot
// read is itself a violation: a guard rail that cannot tell the stage must not pass.
import { ReportViolation, UnknownValueError } from "@pulumi/policy";
import type { FerryConfig } from "../config";
import { StackConfigArgs, ferryConfigOf } from "./stack-config";

export function withFerryConfig(args: StackConfigArgs, report: ReportViolation, check: (config: FerryConfig) => void): void {
  let config: FerryConfig;
  try {
    config = ferryConfigOf(args);
  } catch (e) {
    report(`cannot read the ferry stack config to judge this stage: ${(e as Error).message}`);
    return;
  }
  check(config);
}

/**
 * Whether the stack's ferry config says so. A config the pack cannot read says nothing:
 * the caller keeps refusing what it would refuse without the exemption.
 */
export function stackDeclares(args: StackConfigArgs, predicate: (config: FerryConfig) => boolean): boolean {
  try {
    return predicate(ferryConfigOf(args));
  } catch {
    return false;
  }
}

/** What `knownOr` returns for a value not known until `pulumi up`. */
export const UNKNOWN: unique symbol = Symbol("unknown until pulumi up");

/**
 * Read a property that may be unknown during a preview (computed from a resource not
 * created yet). The pack's proxy throws on access; the caller decides what unknown means.
 */
export function knownOr<T, F>(read: () => T, whenUnknown: F): T | F {
  try {
    return read();
  } catch (e) {
    if (e instanceof UnknownValueError) return whenUnknown;
    throw e;
  }
}
