// What `ferry doctor` reports: one finding per check, each one line. A "block" is a
// prerequisite that would stop `pulumi up` (or a stage) part-way; "warn" is worth
// knowing and changes nothing; "skip" is a check that did not apply or could not run
// because something it needs was blocked first.
export type Status = "ok" | "warn" | "block" | "skip";

export interface Finding {
  /** What was checked: `pulumi`, `aws`, `source postgres`, `ferry:target.cloudflare.zoneId`, ... */
  check: string;
  status: Status;
  detail: string;
}

export const finding = (check: string, status: Status, detail: string): Finding => ({ check, status, detail });

export const blocks = (findings: Finding[]): boolean => findings.some((f) => f.status === "block");

/** `block  aws: no credentials ...`: the status padded so the checks line up. */
export function renderFinding(f: Finding): string {
  return `${f.status.padEnd(5)}  ${f.check}: ${f.detail}`;
}
