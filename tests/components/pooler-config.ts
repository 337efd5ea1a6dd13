// A stack's raw config with ferry:target.pooler set, for the pooler's tests.

/** `pooler` merged into the stack's ferry:target. */
export function withPooler(raw: Record<string, string>, pooler: Record<string, unknown> = {}): Record<string, string> {
  const target = JSON.parse(raw["ferry:target"]) as Record<string, unknown>;
  return { ...raw, "ferry:target": JSON.stringify({ ...target, pooler }) };
}

/** The stack's raw config with no ferry:target.pooler (the example stacks declare one). */
export function withoutPooler(raw: Record<string, string>): Record<string, string> {
  const { pooler: _, ...target } = JSON.parse(raw["ferry:target"]) as Record<string, unknown>;
  return { ...raw, "ferry:target": JSON.stringify(target) };
}
