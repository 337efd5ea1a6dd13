// The stages in the order a migration runs them. Data stages come first: the app's
// environment (built in between, by the caller) depends on which stores moved, and the
// traffic stages wait on both.
import type * as pulumi from "@pulumi/pulumi";
import { COMPONENTS, Stage } from "../config";
import { DataCutover } from "./cutover";
import { Decommission } from "./decommission";
import { Dns } from "./dns";
import { EdgeTls, edgeTlsActive } from "./edge-tls";
import { Proxy } from "./proxy";
import { Replicate } from "./replicate";
import { StageContext, reached } from "./context";

export type { StageContext } from "./context";

export interface DataStages {
  replicate?: Replicate;
  cutover?: DataCutover;
  /** Everything DNS and the app's environment must wait for. */
  gates: pulumi.Resource[];
  moved: { postgres: boolean; redis: boolean };
  /** The source's scheduled jobs are off: the app's schedules on AWS run, after these steps. */
  jobs: { moved: boolean; stopped: pulumi.Resource[] };
}

const anyReached = (ctx: StageContext, stage: Stage) => COMPONENTS.some((c) => reached(ctx, c, stage));

export function applyDataStages(ctx: StageContext, parent: pulumi.Resource): DataStages {
  const replicate = anyReached(ctx, "replicate") ? new Replicate(`${ctx.name}-replicate`, { ctx }, { parent }) : undefined;
  const cutover = anyReached(ctx, "cutover")
    // Was `-cutover-data` while its steps were named `-cutover-*`: now `${name}-*` like every component's.
    ? new DataCutover(`${ctx.name}-cutover`, { ctx, replicated: replicate?.steps ?? {} }, { parent, aliases: [{ name: `${ctx.name}-cutover-data` }] })
    : undefined;
  // The cutover's gates, and below cutover the guards that refuse a rollback that would lose data.
  const gates = [...(cutover?.gates ?? []), ...(replicate?.guards ?? [])];
  return {
    replicate, cutover, gates,
    moved: cutover?.moved ?? { postgres: false, redis: false },
    jobs: { moved: cutover?.jobsMoved ?? false, stopped: cutover?.jobsStopped ?? [] },
  };
}

/**
 * Heroku's load balancer lives only during proxy (at cutover the DNS record takes over);
 * the old nginx keeps forwarding from proxy on, a fallback for clients that still
 * resolve to the old box.
 */
function proxyActive(ctx: StageContext): boolean {
  if (ctx.config.source.kind === "heroku") return reached(ctx, "app", "proxy") && !reached(ctx, "app", "cutover");
  return reached(ctx, "app", "proxy");
}

export function applyTrafficStages(ctx: StageContext, data: DataStages, app: pulumi.Resource[], parent: pulumi.Resource): void {
  // Cloudflare reaches AWS only under Full (strict): the rule exists before any request can go there.
  const edgeTls = edgeTlsActive(ctx) ? [new EdgeTls(`${ctx.name}-edge-tls`, { ctx }, { parent })] : [];
  if (proxyActive(ctx)) new Proxy(`${ctx.name}-proxy`, { ctx, after: [...app, ...data.gates, ...edgeTls] }, { parent });
  new Dns(`${ctx.name}-dns`, { ctx, gates: [...data.gates, ...app, ...edgeTls] }, { parent });
  if (anyReached(ctx, "decommission")) new Decommission(`${ctx.name}-decommission`, { ctx }, { parent });
}
