// The rehearsal app as a Heroku slug, built once per run: a gzip tar with the app under
// ./app (Heroku Dev Center, "Slug Compiler"), its Procfile (Mastodon's), and .profile.d
// scripts a dyno (and bin/slug-run) sources before the command.
//
// What the buildpacks would do at build time, done here: the Ruby buildpack resolves the
// Gemfile (`bundle lock --local` against Debian's installed gems, which stand for the gems
// the buildpack would vendor: Debian's system Ruby stands for the Ruby it vendors), and the
// Node.js buildpack installs the streaming server's packages (esbuild bundles
// streaming/index.ts with pg and ioredis from the lock file into streaming/index.js, so the
// slug runs without reaching back into the repository).
//
// The same slug is what the Heroku stand-in serves as each app's current release and what
// its dynos run (through bin/slug-run), what the ECS stand-in runs after the program copied
// it to S3, and the app tree the box's systemd units run: the same code everywhere.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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
  /** The app tree the slug was made of (what a box's deploy checks out, e.g. /home/mastodon/live). */
  appDir: string;
}

export const SLUG_RUN = resolve(__dirname, "..", "..", "bin", "slug-run");
/** The app's sources: a Rails + Sidekiq app and a Node streaming server, laid out as Mastodon's. */
export const APP_SOURCE = resolve(__dirname, "..", "app");

/** Sourced by a dyno before the command, as the Ruby and Node.js buildpacks' profile scripts are. */
const PROFILE_D: Record<string, string> = {
  "ruby.sh": [
    "# What the Ruby buildpack's profile script sets (Dev Center, \"Heroku Ruby Support\"); the",
    "# Ruby itself is the system's here (docs/rehearsal.md).",
    'export PATH="$HOME/bin:$PATH"',
    'export RAILS_ENV="${RAILS_ENV:-production}"',
    'export RACK_ENV="${RACK_ENV:-production}"',
    'export RAILS_LOG_TO_STDOUT="${RAILS_LOG_TO_STDOUT:-enabled}"',
    'export BUNDLE_GEMFILE="$HOME/Gemfile"',
    "export BUNDLE_FROZEN=true",
    "",
  ].join("\n"),
  "nodejs.sh": [
    "# What the Node.js buildpack's profile script sets (Dev Center, \"Node.js Support\").",
    'export NODE_ENV="${NODE_ENV:-production}"',
    "",
  ].join("\n"),
};

/** The streaming server and its packages in one file (a real slug carries node_modules). */
async function bundleStreaming(out: string): Promise<void> {
  await build({
    entryPoints: [join(APP_SOURCE, "streaming", "index.ts")],
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

/** Build the slug: the app tree, its Gemfile.lock, the streaming bundle, tarred as Heroku does. */
export async function buildRehearsalSlug(): Promise<RehearsalSlug> {
  const root = tempDir("rehearsal-slug");
  const app = join(root, "app");
  cpSync(APP_SOURCE, app, { recursive: true, filter: (src) => !src.endsWith(".ts") && !src.endsWith("Gemfile.lock") });
  await bundleStreaming(join(app, "streaming", "index.js"));
  try {
    await run("bundle", ["lock", "--local"], { cwd: app, env: { ...process.env, BUNDLE_GEMFILE: join(app, "Gemfile"), HOME: root } });
  } catch (err) {
    throw new Error(`the rehearsal app's Gemfile does not resolve from this machine's gems (bash scripts/setup-system.sh installs Debian's ruby-rails, ruby-sidekiq, ruby-pg, ruby-redis, puma, ruby-aws-sdk-s3): ${(err as Error).message.split("\n").slice(-3).join(" ")}`);
  }
  mkdirSync(join(app, ".profile.d"), { recursive: true });
  for (const [name, text] of Object.entries(PROFILE_D)) writeFileSync(join(app, ".profile.d", name), text);
  const file = join(tempDir("rehearsal-slug-out"), "slug.tgz");
  await run("tar", ["czf", file, "-C", root, "./app"]);
  const bytes = readFileSync(file);
  return { file, checksum: `SHA256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length, processTypes: procfileTypes(readFileSync(join(app, "Procfile"), "utf8")), appDir: app };
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
