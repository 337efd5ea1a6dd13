// Each `pulumi up` runs the program in a new process: the Pulumi CLI starts the language
// host anew for every update (https://www.pulumi.com/docs/iac/concepts/how-pulumi-works/),
// so a module-level value the program computes once (compute.ts's READ_EPOCH, which makes
// the release read and the config copies run at every up until cutover) is new at every
// up. One rehearsal process runs many ups; loading the program once would give every up
// the first up's values and hide what a second real `pulumi up` does. So each up loads the
// program afresh: the project's modules through tsx's scoped require, in a namespace of
// their own, while the packages under node_modules (the Pulumi SDK the engine's monitor is
// plugged into) stay the one instance they are.
import { join } from "node:path";

/** tsx's scoped require (tsx/cjs/api): a namespace of its own, its own module cache. */
interface ScopedRequire {
  (id: string, fromFile: string): unknown;
  cache: NodeJS.Dict<NodeJS.Module>;
}
// tsx publishes its API through package exports, which this project's moduleResolution ("node") does not read.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tsxRequire = (require("tsx/cjs/api") as { require: ScopedRequire }).require;

const NAMESPACED = /\?namespace=/;

/** Forget every project module a previous load put in the scoped cache (node_modules stay). */
function forgetProjectModules(): void {
  for (const key of Object.keys(tsxRequire.cache)) {
    if (NAMESPACED.test(key) && !key.includes("/node_modules/")) delete tsxRequire.cache[key];
  }
}

/**
 * `modulePath` (relative to `projectDir`) evaluated anew, as a new process would: its own
 * module-level state, and that of every project module it imports.
 */
export function loadAfresh<T>(projectDir: string, modulePath: string): T {
  forgetProjectModules();
  return tsxRequire(`./${modulePath}`, join(projectDir, "index.ts")) as T;
}
