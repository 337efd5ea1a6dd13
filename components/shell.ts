// Quoting for strings that end up in a shell: user data and Command create/delete strings.

/** Single-quote for sh/bash: the value can hold anything and is never interpreted. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
