// Single-quoting for a word of a shell script sent to the box (the data plane may not
// import components/shell.ts).

/** The word, single-quoted so the remote shell reads it literally. */
export function shellQuoteArg(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
