// Timing and printing for the benches: a small aligned table and ratios.
export interface Timing {
  name: string;
  ms: number;
  note?: string;
}

export async function time(name: string, fn: () => Promise<string | void>): Promise<Timing> {
  const t0 = process.hrtime.bigint();
  const note = await fn();
  return { name, ms: Number(process.hrtime.bigint() - t0) / 1e6, note: note || undefined };
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** Print rows as an aligned table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** "x.xx x" of how many times faster `ours` is than `theirs`. */
export const ratio = (theirs: Timing, ours: Timing): string => `${(theirs.ms / ours.ms).toFixed(2)}x`;

export function log(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
