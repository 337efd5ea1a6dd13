#!/usr/bin/env node
// The CLI is TypeScript, and `npx ferry` works straight after `npm ci` with no build step,
// from the same sources the Pulumi program and the rehearsal import. It runs from one
// esbuild bundle of those sources (lib/bundle.js): loading one file starts in about 0.2 s
// where transpiling some hundred files through tsx takes 0.45 s, and the cutover's own
// steps (`ferry pg verify`, `ferry redis status`) start while writes wait. The bundle is
// rebuilt whenever a source file or the lockfile changes; where it cannot be built or
// cached, and with FERRY_NO_BUNDLE=1, the sources run through tsx as they are.
const { bundledMain } = require("./lib/bundle");

const main = process.env.FERRY_NO_BUNDLE === "1" ? undefined : bundledMain();
if (main) {
  main(process.argv);
} else {
  require("tsx/cjs");
  require("../dataplane/cli/main.ts").main(process.argv);
}
