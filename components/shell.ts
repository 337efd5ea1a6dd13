// Quoting for strings that end up in a shell: user data and Command create/delete strings.

/** Single-quote for sh/bash: the value can hold anything and is never interpreted. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Words as one sh command line, each quoted as needed (a `ferry` command's argv, say). */
export function shellJoin(words: string[]): string {
  return words.map(shellQuote).join(" ");
}
