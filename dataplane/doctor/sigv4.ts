// AWS Signature Version 4 for one GET request with a query and no body
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html): what
// doctor needs to ask STS who the credentials are when the AWS CLI is not installed.
import { createHash, createHmac } from "node:crypto";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");
const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding, as SigV4's canonical query wants it (encodeURIComponent leaves !'()* alone). */
const encode = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** `20150830T123600Z` for a Date. */
export const amzDate = (d: Date) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");

/**
 * The headers that sign `GET url`: Host, X-Amz-Date, X-Amz-Security-Token (temporary
 * credentials) and Authorization.
 */
export function signGet(url: URL, region: string, service: string, creds: Credentials, date: string): Record<string, string> {
  const headers: Record<string, string> = { host: url.host, "x-amz-date": date, ...(creds.sessionToken ? { "x-amz-security-token": creds.sessionToken } : {}) };
  const names = Object.keys(headers).sort();
  const query = [...url.searchParams].map(([k, v]) => [encode(k), encode(v)]).sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join("&");
  const canonical = ["GET", url.pathname || "/", query, ...names.map((n) => `${n}:${headers[n].trim()}`), "", names.join(";"), sha256("")].join("\n");
  const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", date, scope, sha256(canonical)].join("\n");
  const key = [date.slice(0, 8), region, service, "aws4_request"].reduce<Buffer | string>((k, part) => hmac(k, part), `AWS4${creds.secretAccessKey}`);
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}` };
}
