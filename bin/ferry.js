#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so `npx ferry` works straight after `npm ci`
// with no build step, from the same sources the Pulumi program and the rehearsal import.
require("tsx/cjs");
require("../dataplane/cli/main.ts").main(process.argv);
