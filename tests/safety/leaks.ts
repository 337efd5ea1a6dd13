// Where a secret shows up in captured text: the secrets audit's one question, asked of
// log lines, report files, process lists, plans and stack outputs alike.

export interface Leak {
  /** Which capture (a file, "ps", "log", a stage's output...). */
  where: string;
  /** The secret's first characters only: a failing test must not print it whole. */
  secret: string;
  /** The line it appeared on, with the secret masked. */
  line: string;
}

export function findLeaks(where: string, text: string, secrets: string[]): Leak[] {
  const found: Leak[] = [];
  for (const secret of secrets) {
    for (const variant of new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString("base64")])) {
      for (const line of text.split("\n").filter((l) => l.includes(variant))) {
        found.push({ where, secret: `${secret.slice(0, 4)}…`, line: line.split(variant).join("«secret»").slice(0, 200) });
      }
    }
  }
  return found;
}
