// A configuration mistake: one line that names the `ferry:` key and what is allowed.
import type { z } from "zod";

export class FerryConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FerryConfigError";
  }
}

/** `ferry:target.postgres.instanceClass`, `ferry:source.apps[0].name`, ... */
export function keyName(root: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, part) => (typeof part === "number" ? `${acc}[${part}]` : `${acc}.${String(part)}`),
    root,
  );
}

/** Turn zod issues into one line; each issue starts with the full key it is about. */
export function describeIssues(root: (path: readonly PropertyKey[]) => string, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      if (issue.code === "unrecognized_keys") {
        return issue.keys.map((k) => `${root([...issue.path, k])}: unknown key`).join("; ");
      }
      return `${root(issue.path)}: ${issue.message}`;
    })
    .join("; ");
}
