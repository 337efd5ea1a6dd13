// Real Heroku-shaped slugs for the tests: a gzip tar with the app under ./app, built
// with the system's tar as Heroku's slug compiler does (`tar czf slug.tgz ./app`).
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { run, tempDir } from "../../rehearsal/servers";

export interface BuiltSlug {
  path: string;
  /** "SHA256:<hex>", as the Platform API reports a slug's checksum. */
  checksum: string;
  size: number;
}

/** A tiny HTTP app: answers with what a dyno gave it (port, dyno, home, profile effects). */
export const ENV_REPORTING_SERVER = `
const http = require("http");
const seen = () => ({
  port: process.env.PORT, dyno: process.env.DYNO, home: process.env.HOME, cwd: process.cwd(),
  fromProfileD: process.env.FROM_PROFILE_D, order: process.env.ORDER, secretSet: Boolean(process.env.SECRET_KEY_BASE),
  argv: process.argv.slice(2),
});
http.createServer((req, res) => { res.writeHead(200, { "content-type": "application/json" }); res.end(JSON.stringify(seen())); })
  .listen(Number(process.env.PORT), "127.0.0.1");
`;

/** Files of a Procfile app with .profile.d scripts and a .profile (paths relative to ./app). */
export function procfileApp(procfile: string): Record<string, string> {
  return {
    Procfile: procfile,
    "server.js": ENV_REPORTING_SERVER,
    // Sourced in name order, then .profile: ORDER records the sequence. The unset
    // variable is deliberate: Heroku sources these without `set -u`.
    ".profile.d/10-first.sh": 'export FROM_PROFILE_D="yes${UNSET_IN_PROFILE:-}"\nexport ORDER="profile.d/10"\n',
    ".profile.d/20-second.sh": 'export ORDER="$ORDER,profile.d/20"\n',
    ".profile.d/ignored.txt": 'export ORDER="$ORDER,not-a-sh-file"\n',
    ".profile": 'export ORDER="$ORDER,.profile"\ncd /\n',
  };
}

/** Write `files` under <tmp>/app and tar them as a slug; returns the slug's path and checksum. */
export async function buildSlug(files: Record<string, string>, name = "slug.tgz"): Promise<BuiltSlug> {
  const root = tempDir("slug-src");
  for (const [rel, content] of Object.entries(files)) {
    const file = join(root, "app", rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    if (rel.startsWith("bin/")) chmodSync(file, 0o755);
  }
  const out = join(tempDir("slug-out"), name);
  await run("tar", ["czf", out, "-C", root, "./app"]);
  return describeSlug(out);
}

export function describeSlug(path: string): BuiltSlug {
  const bytes = readFileSync(path);
  return { path, checksum: `SHA256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length };
}
