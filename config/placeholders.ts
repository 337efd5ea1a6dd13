// The stand-ins `ferry init` writes where only the user can decide (the Cloudflare zone,
// the runner's AMI, ...): each has a valid shape, so the drafted file can be read and
// priced, but none may reach `pulumi up`. parseConfig refuses them, naming the key; `ferry
// init` validates its draft with them allowed, and `ferry doctor` lists every one left.

/** Stand-ins that validate but must be replaced: the value, and what the user must put there. */
export const PLACEHOLDERS = {
  accountId: { key: "accountId:", value: "00000000000000000000000000000000", note: "TODO: your Cloudflare account id" },
  zoneId: { key: "zoneId:", value: "00000000000000000000000000000000", note: "TODO: the Cloudflare zone id of your hostnames" },
  // An app without a slug (a Heroku "Fir" app, or a box) runs from an image only the user can name.
  image: { key: "image:", value: "registry.example.com/your-app:todo", note: "TODO: the app's OCI image (a box's app, or a Heroku app with no slug)" },
  // Not a documentation address an example might use (203.0.113.0/24 is the examples'): this one is init's alone.
  operatorCidr: { key: "- ", value: "192.0.2.255/32", note: "TODO: the public address of the machine that runs pulumi (allowed to SSH to the runner)" },
  runnerAmi: { key: "ami:", value: "ami-00000000000000000", note: "TODO: a Debian 13 AMI in your region (its nodejs is 20.19)" },
  runnerKey: { key: "sshPublicKey:", value: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITODO ops@example", note: "TODO: the public half of ferry:sshPrivateKey" },
  ferryRepo: { key: "ferryRepo:", value: "https://git.invalid/TODO/ferry.git", note: "TODO: the git URL the runner installs ferry from" },
  instanceId: { key: "instanceId:", value: "00000000-0000-0000-0000-000000000000", note: "TODO: the box's Vultr instance id (vultr-cli instance list)" },
  // One per hostname (the index follows): ids must differ, each record is its own import.
  recordId: { key: "id:", value: "000000000000000000000000000000", note: "TODO: the Cloudflare record id of this CNAME, and its proxied and ttl as they are live" },
  hostKey: { key: "hostKey:", value: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITODOTODOTODOTODOTODOTODOTODOTODOTODOTODOTODO", note: "TODO: the box's SSH host key (only a CA vouched for it here): ssh-keyscan -t ed25519 HOST, checked against the box's console" },
} as const;

type Placeholder = (typeof PLACEHOLDERS)[keyof typeof PLACEHOLDERS];

/**
 * The stand-in `value` is, if any; `field` (the key it sits under) tells the account id's
 * stand-in from the zone id's, which share a value. Record ids carry a two-digit index
 * after the stand-in.
 */
export function placeholderOf(value: unknown, field?: string): Placeholder | undefined {
  if (typeof value !== "string") return undefined;
  const exact = Object.values(PLACEHOLDERS).filter((p) => p.value === value);
  if (exact.length) return exact.find((p) => p.key === `${field}:`) ?? exact[0];
  const record = PLACEHOLDERS.recordId.value;
  return value.length === record.length + 2 && value.startsWith(record) && /^\d\d$/.test(value.slice(-2)) ? PLACEHOLDERS.recordId : undefined;
}

export interface PlaceholderFound {
  /** The full key: `ferry:target.cloudflare.zoneId`, `ferry:target.runner.sshCidrs[0]`. */
  key: string;
  note: string;
}

/** Every stand-in left in a decoded value, with its full key, in document order. */
export function findPlaceholders(root: string, value: unknown): PlaceholderFound[] {
  const hit = placeholderOf(value, /([A-Za-z]+)(\[\d+\])?$/.exec(root)?.[1]);
  if (hit) return [{ key: root, note: hit.note }];
  if (Array.isArray(value)) return value.flatMap((v, i) => findPlaceholders(`${root}[${i}]`, v));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => findPlaceholders(`${root}.${k}`, v));
  }
  return [];
}

/** The one line a placeholder is refused with. */
export function placeholderLine(found: PlaceholderFound): string {
  return `${found.key}: still the stand-in ferry init wrote (${found.note})`;
}
