// The rehearsal app as a Heroku slug, built once per run: a gzip tar with the app under
// ./app (Heroku Dev Center, "Slug Compiler"), a Procfile for its process types, and a
// .profile.d script that a dyno (and bin/slug-run) sources before the command. The app
// is bundled with esbuild into one file, so the slug runs on its own, without reaching
// back into the repository (as a real slug carries its node_modules).
//
// The same slug is what the Heroku stand-in serves as each app's current release and
// what its dynos run (through bin/slug-run), and what the ECS stand-in runs after the
// program copied it to S3: the same code on both sides.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { run, tempDir } from "../servers";

export interface RehearsalSlug {
  /** The .tgz on disk. */
  file: string;
  /** "SHA256:<hex>", as the Platform API reports a slug's checksum. */
  checksum: string;
  size: number;
  /** Procfile: type -> command (the slug's process_types). */
  processTypes: Record<string, string>;
}

export const SLUG_RUN = resolve(__dirname, "..", "..", "bin", "slug-run");

/**
 * The app's process types. `web` serves HTTP on $PORT; `worker` works the queue and
 * records its Redis writes (it answers health checks on $PORT too); `release` is the
 * release phase: it checks the app's database answers with the schema the app needs and
 * exits 0, or exits 1 (a real app would migrate here; this one must not change a
 * database that is being replicated).
 */
const PROCFILE = [
  "# The rehearsal app (rehearsal/app), bundled into server.js.",
  "web: APP_WORKER=0 exec node server.js",
  "worker: APP_WORKER=1 exec node server.js",
  "release: exec node release.js",
  "",
].join("\n");

/** Sourced by the dyno before the command, as the Node.js buildpack's profile script is. */
const PROFILE_D = [
  "# The Node.js buildpack puts the app's binaries first and sets NODE_ENV (Dev Center, \"Node.js Support\").",
  'export PATH="$HOME/node_modules/.bin:$PATH"',
  'export NODE_ENV="${NODE_ENV:-production}"',
  // Which process this is, in the X-Served-By header: the dyno's own name (web.1) unless the platform names it.
  'export APP_NAME="${APP_NAME:-slug-$DYNO}"',
  "",
].join("\n");

/** The release phase: the app's database answers and has the app's tables. */
const RELEASE_SOURCE = `
import { Client } from "pg";
import { clientConfig } from "../../dataplane/postgres/connection";
import { pgTls } from "../../dataplane/postgres/tls";
import { quoteSchema } from "./schema";

// The URL is read as libpq (and the app) reads it: each TLS attempt in order, the first that connects.
async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set");
  const schema = process.env.APP_SCHEMA ?? "public";
  const tls = pgTls(url);
  let failure: unknown = new Error("no connection attempt");
  for (const attempt of tls.attempts) {
    const client = new Client(clientConfig(url, tls, attempt, { connectionTimeoutMillis: 5000 }));
    try {
      await client.connect();
      const r = await client.query(\`SELECT count(*)::int AS n FROM \${quoteSchema(schema)}.accounts\`);
      process.stdout.write(\`release: database answers, \${r.rows[0].n} accounts in \${schema}\\n\`);
      return;
    } catch (err) {
      failure = err;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  throw failure;
}

main().catch((err) => {
  process.stderr.write(\`release: \${err instanceof Error ? err.message : String(err)}\\n\`);
  process.exit(1);
});
`;

/** One file for `entry` (a path, or source resolved from the app's directory), with its dependencies. */
async function bundle(entry: { file: string } | { source: string; resolveDir: string }, out: string): Promise<void> {
  await build({
    ...("file" in entry ? { entryPoints: [entry.file] } : { stdin: { contents: entry.source, resolveDir: entry.resolveDir, loader: "ts" as const } }),
    outfile: out,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // pg's optional native binding is never used (pg falls back to JS when it is absent).
    external: ["pg-native"],
    logLevel: "error",
  });
}

/** Build the slug: bundle the app, write the Procfile and .profile.d, tar it as Heroku does. */
export async function buildRehearsalSlug(): Promise<RehearsalSlug> {
  const root = tempDir("rehearsal-slug");
  const app = join(root, "app");
  mkdirSync(join(app, ".profile.d"), { recursive: true });
  const appDir = resolve(__dirname, "..", "app");
  await bundle({ file: join(appDir, "main.ts") }, join(app, "server.js"));
  // The release entry resolves its imports from the app's directory, as the app's own do.
  await bundle({ source: RELEASE_SOURCE, resolveDir: appDir }, join(app, "release.js"));
  writeFileSync(join(app, "Procfile"), PROCFILE);
  writeFileSync(join(app, ".profile.d", "rehearsal.sh"), PROFILE_D);
  const file = join(tempDir("rehearsal-slug-out"), "slug.tgz");
  await run("tar", ["czf", file, "-C", root, "./app"]);
  const bytes = readFileSync(file);
  return { file, checksum: `SHA256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length, processTypes: procfileTypes(PROCFILE) };
}

/** Procfile text to process types: `#` lines skipped, split on the first `:` (herokuish's rule). */
export function procfileTypes(text: string): Record<string, string> {
  const types: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    const i = line.indexOf(":");
    if (i < 0) continue;
    types[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return types;
}
