// Reading INFO: the one introspection command every Redis host allows (Heroku blocks
// CONFIG, ElastiCache blocks more), so versions, key counts, memory and replication
// state all come from here.
import Redis from "ioredis";

export type InfoFields = Record<string, string>;

/** Parse INFO text into `field -> value` (section headers dropped). */
export function parseInfo(text: string): InfoFields {
  const fields: InfoFields = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith("#")) continue;
    const i = line.indexOf(":");
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
  }
  return fields;
}

export async function info(client: Redis, section?: string): Promise<InfoFields> {
  return parseInfo(section ? await client.info(section) : await client.info());
}

/** Keys per logical database, from INFO keyspace (`db3:keys=10,expires=2,...`). */
export function keyspaceCounts(fields: InfoFields): Map<number, number> {
  const counts = new Map<number, number>();
  for (const [name, value] of Object.entries(fields)) {
    const m = /^db(\d+)$/.exec(name);
    const keys = /keys=(\d+)/.exec(value);
    if (m && keys && Number(keys[1]) > 0) counts.set(Number(m[1]), Number(keys[1]));
  }
  return counts;
}

export async function dbKeyCounts(client: Redis): Promise<Map<number, number>> {
  return keyspaceCounts(await info(client, "keyspace"));
}

/** Compare dotted versions: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
