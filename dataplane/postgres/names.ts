// The names ferry gives what it creates in the databases, in one place so that
// replicate, status, cutover, rollback and cleanup agree on them.

/** Publication on the source (logical strategy). */
export const PUBLICATION = "ferry_pub";
/** Subscription on the target; its slot on the source has the same name. */
export const SUBSCRIPTION = "ferry_sub";
/** Physical slot the standby streams from: WAL is kept until the standby has it. */
export const PHYSICAL_SLOT = "ferry_standby";
/** ferry's bookkeeping schema on the target (cutover progress); never user data. */
export const STATE_SCHEMA = "ferry";

/**
 * The capture strategy's schema on the source (change log, trigger functions) and its
 * triggers' names on every user table: never copied, never verified, removed by rollback.
 */
export const CAPTURE_SCHEMA = "ferry_capture";
export const CAPTURE_ROW_TRIGGER = "ferry_capture_row";
export const CAPTURE_TRUNCATE_TRIGGER = "ferry_capture_truncate";

export type Strategy = "physical" | "logical" | "dump" | "capture";
export const STRATEGIES: readonly Strategy[] = ["physical", "logical", "dump", "capture"];
