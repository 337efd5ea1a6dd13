// The `ferry` CLI as one esbuild bundle (https://esbuild.github.io/api/#bundle), cached
// under node_modules/.cache/ferry (or FERRY_BUNDLE_CACHE) by the SHA-256 of everything it is built from: every
// file of dataplane/ (the CLI imports nothing else of the repository, which the lint
// boundaries enforce) and package-lock.json (the dependencies inlined). A changed source
// therefore never runs from an old bundle. Concurrent first runs each build and rename
// their own file into place; the rename is atomic, so no process loads half a bundle.
// esbuild is what tsx itself transpiles with (its dependency, hoisted by npm).
const { createHash } = require("node:crypto");
const { mkdirSync, readdirSync, readFileSync, renameSync, existsSync, rmSync } = require("node:fs");
const { join, relative } = require("node:path");

const ROOT = join(__dirname, "..", "..");
const SOURCES = join(ROOT, "dataplane");
const CACHE = process.env.FERRY_BUNDLE_CACHE || join(ROOT, "node_modules", ".cache", "ferry");

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** The bundle's name: a hash of every input's path and bytes (`root`: a checkout of ferry). */
function bundleKey(root = ROOT) {
  const hash = createHash("sha256");
  for (const file of [...sourceFiles(join(root, "dataplane")), join(root, "package-lock.json")]) {
    hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 32);
}

function build(outfile) {
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
  for (const old of readdirSync(CACHE)) {
    if (/^ferry-[0-9a-f]{32}\.js$/.test(old) && join(CACHE, old) !== outfile) rmSync(join(CACHE, old), { force: true });
  }
}

/** The bundled CLI's `main`, built first if need be; undefined when it cannot be (then run the sources). */
function bundledMain() {
  try {
    const outfile = join(CACHE, `ferry-${bundleKey()}.js`);
    if (!existsSync(outfile)) {
      mkdirSync(CACHE, { recursive: true });
      build(outfile);
    }
    return require(outfile).main;
  } catch {
    return undefined;
  }
}

module.exports = { bundledMain, bundleKey };
