// WAL positions ("16/B374D848") as numbers, to compute lag in bytes in one place.

export function lsnToBigInt(lsn: string): bigint {
  const [hi, lo] = lsn.split("/");
  if (lo === undefined) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** Bytes from `behind` to `ahead`, never negative (a replica can report past the primary's sample). */
export function lsnDiff(ahead: string, behind: string): number {
  const d = lsnToBigInt(ahead) - lsnToBigInt(behind);
  return d > 0n ? Number(d) : 0;
}
