// The RDS CA bundle in every task, and the DATABASE_URL that uses it. RDS's certificates
// chain to Amazon's RDS roots, which no system trust store holds
// (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html), so a
// client must be given the bundle. The URL must mean the same to libpq (Rails, psql) and
// to node-postgres (Mastodon's streaming server): node-postgres (pg-connection-string
// 2.x) reads `sslmode=require` as verify-full against Node's CA store, and libpq rejects
// parameters it does not know (such as `uselibpqcompat`). `sslmode=verify-full` with
// `sslrootcert=<file>` is one both read alike: libpq verifies the chain and the host name
// against that file (https://www.postgresql.org/docs/current/libpq-ssl.html), and
// pg-connection-string reads the file into its `ssl.ca` and verifies the same way.
//
// The bundle reaches a task as a file at RDS_CA_IN_TASK, the same path as on the runner:
// a runner step copies Amazon's published bundle into the stack's bucket (certs/), and
// each task's fetch container (a slug task's slug-fetch, an image task's ca-fetch init
// container) copies it into a task volume mounted there, before the app starts
// (`dependsOn` SUCCESS).
import { RDS_CA_BUNDLE, RDS_CA_BUNDLE_URL } from "../userData";
import { shellQuote } from "../../shell";

/** Where the bundle is inside every task (a task volume), and on the runner. */
export const RDS_CA_IN_TASK = RDS_CA_BUNDLE;
/** The task volume that holds it, mounted at its directory. */
export const RDS_CA_DIR = RDS_CA_IN_TASK.replace(/\/[^/]+$/, "");
export const RDS_CA_VOLUME = "rds-ca";
/** Where the runner step puts it in the stack's bucket. */
export const RDS_CA_KEY = "certs/rds-global-bundle.pem";

/** The app's DATABASE_URL for an RDS URL: verify-full against the bundle in the task. */
export function taskPostgresUrl(url: string): string {
  const u = new URL(url);
  u.searchParams.set("sslmode", "verify-full");
  u.searchParams.set("sslrootcert", RDS_CA_IN_TASK);
  return u.toString();
}

/**
 * The runner step: Amazon's published bundle (over HTTPS, checked to be PEM certificates)
 * into s3://bucket/certs/. Nothing secret in it.
 */
export function rdsCaCopyCommand(bucket: string, region: string): string {
  return [
    "set -eu",
    'd=$(mktemp -d); trap \'rm -rf "$d"\' EXIT',
    `curl -fsSL --retry 5 ${shellQuote(RDS_CA_BUNDLE_URL)} -o "$d/rds.pem"`,
    `grep -q 'BEGIN CERTIFICATE' "$d/rds.pem" || { echo ${shellQuote(`ferry: ${RDS_CA_BUNDLE_URL} is not a PEM bundle`)} >&2; exit 1; }`,
    `aws s3 cp --only-show-errors --region ${shellQuote(region)} "$d/rds.pem" ${shellQuote(`s3://${bucket}/${RDS_CA_KEY}`)}`,
  ].join("\n");
}
