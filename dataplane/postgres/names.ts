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

export type Strategy = "physical" | "logical" | "dump";
export const STRATEGIES: readonly Strategy[] = ["physical", "logical", "dump"];
