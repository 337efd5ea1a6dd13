// The `ferry` CLI as one esbuild bundle (https://esbuild.github.io/api/#bundle), cached
// by the SHA-256 of everything it is built from: every file of dataplane/ and config/ (the
// CLI imports nothing else of the repository, which the lint boundaries enforce; config/
// is what `ferry init` validates its draft with), package-lock.json (the dependencies
// inlined) and package.json (its version, inlined for `ferry --version`). A changed source therefore never runs from an old bundle. Concurrent first
// runs each build and rename their own file into place; the rename is atomic, so no
// process loads half a bundle. esbuild is what tsx itself transpiles with (its
// dependency, hoisted by npm).
//
// Where: FERRY_BUNDLE_CACHE, else node_modules/.cache/ferry in the checkout, else the
// user's own cache (XDG_CACHE_HOME or ~/.cache, then ferry). On the EC2 runner root
// installs ferry and the SSH user runs it: a bundle root built at install is used where
// it is; one that must be built goes to the user's cache, never to a tsx fall back
// whose start-up time the rehearsal never measured.
const { createHash } = require("node:crypto");
const { mkdirSync, readdirSync, readFileSync, renameSync, existsSync, rmSync } = require("node:fs");
const { join, relative } = require("node:path");

const ROOT = join(__dirname, "..", "..");
const SOURCES = join(ROOT, "dataplane");
/** Directories of the repository the CLI is built from. */
const SOURCE_DIRS = ["dataplane", "config"];

/** Where bundles may be cached, in order: the first holding this key's bundle serves, the first writable one gets a new one. */
function cacheDirs(env = process.env) {
  if (env.FERRY_BUNDLE_CACHE) return [env.FERRY_BUNDLE_CACHE];
  const userCache = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, ".cache") : undefined);
  return [join(ROOT, "node_modules", ".cache", "ferry"), ...(userCache ? [join(userCache, "ferry")] : [])];
}

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** The bundle's name: a hash of every input's path and bytes (`root`: a checkout of ferry). */
function bundleKey(root = ROOT) {
  const hash = createHash("sha256");
  const sources = SOURCE_DIRS.map((d) => join(root, d)).filter((d) => existsSync(d)).flatMap(sourceFiles);
  // package.json: the CLI inlines its version (`ferry --version`).
  const manifest = join(root, "package.json");
  const manifests = [join(root, "package-lock.json"), ...(existsSync(manifest) ? [manifest] : [])];
  for (const file of [...sources, ...manifests]) {
    hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 32);
}

function build(cache, outfile) {
  const tmp = `${outfile}.${process.pid}.tmp`;
  require("esbuild").buildSync({
    entryPoints: [join(SOURCES, "cli", "main.ts")],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    outfile: tmp,
    // pg's optional native binding: pg loads it only when asked to, and ferry never does.
    external: ["pg-native"],
    logLevel: "silent",
  });
  renameSync(tmp, outfile);
  // Bundles of earlier sources are of no further use (a process still loading one has read it already).
  for (const old of readdirSync(cache)) {
    if (/^ferry-[0-9a-f]{32}\.js$/.test(old) && join(cache, old) !== outfile) rmSync(join(cache, old), { force: true });
  }
}

/** The bundled CLI's `main`, built first if need be; undefined when it cannot be (then run the sources). */
function bundledMain() {
  try {
    const name = `ferry-${bundleKey()}.js`;
    const dirs = cacheDirs();
    const cached = dirs.map((d) => join(d, name)).find((f) => existsSync(f));
    if (cached) return require(cached).main;
    for (const dir of dirs) {
      try {
        mkdirSync(dir, { recursive: true });
        build(dir, join(dir, name));
        return require(join(dir, name)).main;
      } catch {
        // not writable here (another user's checkout): the next place
      }
    }
    return undefined;
  } catch {
    return undefined;
  }
}

module.exports = { bundledMain, bundleKey, cacheDirs };
