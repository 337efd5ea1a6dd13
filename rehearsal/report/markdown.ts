// report.md: the same figures as report.json, said in plain words for the person
// deciding whether to run the real migration.
import { formatBytes } from "../../dataplane/cli/common";
import { RehearsalReport } from "./build";

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms - m * 60_000) / 1000)} s`;
}

function shareText(share: Record<string, number>): string {
  const parts = Object.entries(share).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`);
  return parts.length ? parts.join(", ") : "no successful requests";
}

/** What the Redis cutover's JSON says about how far behind the target was. */
function redisLagText(j: unknown): string | undefined {
  if (!j || typeof j !== "object") return undefined;
  const o = j as { replica?: { lagBytes?: number; inSync?: boolean }; catchUp?: { by?: string }; seconds?: number; verify?: { checked?: number; differingCount?: number } };
  const parts: string[] = [];
  if (o.replica && typeof o.replica.lagBytes === "number") parts.push(`replica ${o.replica.lagBytes} bytes behind${o.replica.inSync ? " (in sync)" : ""}`);
  if (o.catchUp?.by) parts.push(`last changes caught up by the ${o.catchUp.by === "window-follower" ? "follower the cutover started before its fence" : o.catchUp.by}`);
  if (typeof o.seconds === "number") parts.push(`switch took ${formatMs(o.seconds * 1000)}`);
  if (o.verify && typeof o.verify.checked === "number") parts.push(`${o.verify.checked} keys verified, ${o.verify.differingCount ?? 0} differing`);
  return parts.length ? parts.join("; ") : undefined;
}

/** The stack rehearsal's `pulumi up` runs: what the engine did at each stage. */
function stackSection(stack: NonNullable<RehearsalReport["stack"]>): string[] {
  const count = (u: (typeof stack.ups)[number], op: string) => u.steps.filter((s) => s.op === op).length;
  const lines = [
    `## pulumi up, stage by stage (stack ${stack.name})`,
    "",
    "| stage | resources declared | created | updated | replaced | deleted | commands run | took | outcome |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const u of stack.ups) {
    const commands = u.steps.filter((s) => s.type.startsWith("command:")).length;
    lines.push(`| ${u.stage} | ${u.resources} | ${count(u, "create")} | ${count(u, "update")} | ${count(u, "replace")} | ${count(u, "delete")} | ${commands} | ${formatMs(u.seconds * 1000)} | ${u.ok ? "ok" : u.refused ? `refused before anything moved: ${u.error ?? ""}` : `failed: ${u.error ?? ""}`} |`);
  }
  const again = stack.ups.filter((u) => u.secondUp);
  if (again.length) {
    lines.push("", "### The second pulumi up of each stage (same config: only reads may run)", "");
    for (const u of again) {
      const changes = u.steps.filter((s) => s.verdict === "change");
      const reads = u.steps.length - changes.length;
      lines.push(`- ${u.stage}: ${changes.length ? `**${changes.length} change(s)**` : "no change"}${reads ? `, ${reads} read(s)` : ""}${u.steps.length ? "" : " (no step ran)"}`);
      for (const s of changes) lines.push(`  - ${s.op} ${s.resource}: ${(s.what ?? "").replace(/\|/g, "/")}`);
    }
  }
  return lines;
}

export function renderMarkdown(r: RehearsalReport): string {
  const lines: string[] = [];
  const verdict = r.ok ? "PASSED" : "FAILED";
  lines.push(`# ferry rehearsal: ${r.source} (${r.pgStrategy} Postgres, Redis by ${r.redisMode}) ${verdict}`, "");
  lines.push(`Run from ${r.startedAt} to ${r.endedAt} (${formatMs(r.durationMs)}).`, "");
  lines.push("## In plain words", "");
  lines.push(
    `- The load generator had ${r.acknowledgedWrites} writes acknowledged; ${r.lostWrites === 0 ? "every one of them is on the target, by id and text" : `**${r.lostWrites} of them are missing or different on the target**`}.`,
  );
  if (r.lostRedisWrites !== null) {
    lines.push(`- ${r.acknowledgedRedisWrites} statuses were acknowledged in their authors' home feeds in Redis; ${r.lostRedisWrites === 0 ? "every one is in the Redis the app ends on" : `**${r.lostRedisWrites} are missing from the Redis the app ends on** (written to a Redis that was no longer the primary)`}.`);
  }
  if (r.jobs) {
    const j = r.jobs;
    lines.push(
      j.neverRan === 0 && j.ranMoreThanOnce === 0
        ? `- The app enqueued ${j.enqueued} jobs (${j.enqueuedBeforeCutover} before the cutover); each ran exactly once.`
        : `- The app enqueued ${j.enqueued} jobs (${j.enqueuedBeforeCutover} before the cutover): **${j.neverRan} never ran, ${j.ranMoreThanOnce} ran more than once**${j.samples.length ? ` (${j.samples.slice(0, 3).join("; ")})` : ""}.`,
    );
  }
  if (r.sidekiqSets) {
    const c = r.sidekiqSets;
    const seeded = Object.entries(c.seeded).map(([s, n]) => `${n} in ${s}`).join(", ");
    lines.push(
      c.missing.length === 0 && c.duplicated.length === 0
        ? `- Sidekiq's sets seeded on the source (${seeded}) are in the Redis the app ends on, each job exactly once.`
        : `- Sidekiq's sets seeded on the source (${seeded}): **${c.missing.length} jobs missing, ${c.duplicated.length} duplicated** in the Redis the app ends on.`,
    );
  }
  if (r.uploads) {
    const u = r.uploads;
    lines.push(
      u.missing === 0
        ? `- ${u.acknowledged} media uploads were acknowledged; every one is in the app's own bucket ${u.bucket}.`
        : `- ${u.acknowledged} media uploads were acknowledged: **${u.missing} are not in the app's own bucket ${u.bucket}**${u.samples.some((m) => m.foundIn) ? ` (they went to ${[...new Set(u.samples.flatMap((m) => (m.foundIn ? [m.foundIn] : [])))].join(", ")})` : ""}.`,
    );
  }
  lines.push(
    r.writeUnavailableMs > 0
      ? `- Writes were unavailable for at most ${formatMs(r.writeUnavailableMs)} (longest run of failed writes, ${r.writeUnavailableWindow!.failedWrites} failed attempts, from ${r.writeUnavailableWindow!.start} to ${r.writeUnavailableWindow!.end}); ${r.writeOutages} such window(s) in total.`
      : "- No write failed during the whole run.",
  );
  if (r.writeUnavailableSteps.length) {
    lines.push(`  During that window: ${r.writeUnavailableSteps.map((s) => `${s.step} (${formatMs(s.durationMs)})`).join(", ")}.`);
  }
  const starts = r.windowTaskStarts?.steps ?? [];
  if (starts.length) {
    const hc = r.windowTaskStarts.healthChecks;
    const ecs = r.windowTaskStarts.ecs;
    lines.push(
      ecs
        ? `  ${starts.join(", ")} start Fargate tasks; the rehearsal modelled them: each task starts after Fargate's provisioning (${ecs.fargateStartSeconds} s, assumed: AWS publishes no figure) ` +
          `and takes requests only once it passes its target group's health check (every ${hc.intervalSeconds} s), an old task drained for the deregistration delay` +
          (ecs.timeFactor === 1 ? ", at AWS's own times." : `, all these times divided by ${ecs.timeFactor} (--time-factor): on AWS that part of the window is up to ${ecs.timeFactor} times longer.`)
        : `  On AWS that window is longer: ${starts.join(", ")} start Fargate tasks, which the rehearsal starts as local processes. ` +
          `Fargate first provisions each task (pulls its image, attaches its network interface), which the rehearsal does not model, ` +
          `and a task behind the load balancer takes requests only after ${hc.passing} passing health check${hc.passing === 1 ? "" : "s"} (every ${hc.intervalSeconds} s, the program's target groups).`,
    );
  }
  lines.push(
    r.cutoverWriteUnavailableMs !== null
      ? `- The cutover command measured its own write fence at ${formatMs(r.cutoverWriteUnavailableMs)}.`
      : "- The cutover command reported no write-fence figure.",
  );
  if (r.atCutover) {
    const c = r.atCutover;
    lines.push(`- What a user felt while the cutover's \`pulumi up\` ran: ${c.failedRequests} of ${c.requests} requests failed (${c.failedWrites} writes), and the longest waited ${formatMs(c.longestWaitMs)}${r.cutoverWriteUnavailableMs !== null ? `, beside the ${formatMs(r.cutoverWriteUnavailableMs)} window ferry measured` : ""}.`);
  }
  lines.push(
    r.pgStrategy === "dump"
      ? "- Replication lag at cutover: none to speak of; a dump-and-restore copies everything after the fence, so the whole copy is inside the window."
      : r.replicationLagAtCutoverBytes !== null
        ? `- Replication lag when the source was fenced: ${formatBytes(r.replicationLagAtCutoverBytes)} (${r.replicationLagAtCutoverBytes} bytes).`
        : "- Replication lag at cutover: the cutover command did not report it.",
  );
  const redisLag = redisLagText(r.redisLagAtCutover);
  if (redisLag) lines.push(`- Redis at cutover: ${redisLag}.`);
  const v = r.volumes;
  const rows = Object.entries(v.rows).map(([t, n]) => `${n} ${t}`).join(", ");
  lines.push(
    `- Data moved: ${rows}${v.databaseBytes !== undefined ? `; database ${formatBytes(v.databaseBytes)}` : ""}${v.redisKeys !== undefined ? `; ${v.redisKeys} Redis keys` : ""}${v.redisBytes !== undefined ? ` (${formatBytes(v.redisBytes)} used)` : ""}${v.feeds !== undefined ? `, ${v.feeds} home feeds` : ""} (seeded from ${v.seed}).`,
  );
  lines.push(
    `- Requests: ${r.requests.writes} writes (${r.requests.writeErrors} failed), ${r.requests.reads} reads (${r.requests.readErrors} failed); successful write latency p50 ${r.writeLatencyMs.p50} ms, p99 ${r.writeLatencyMs.p99} ms, max ${r.writeLatencyMs.max} ms.`,
  );
  lines.push("", "## Stages", "");
  lines.push("| stage | started | took | outcome | served by (share of successful requests) |", "|---|---|---|---|---|");
  for (const s of r.stages) {
    lines.push(`| ${s.name} | ${s.startedAt.slice(11, 23)} | ${formatMs(s.durationMs)} | ${s.outcome}${s.detail ? `: ${s.detail.replace(/\|/g, "/")}` : ""} | ${shareText(s.servedShare)} |`);
  }
  for (const s of r.stages) {
    if (!s.steps.length) continue;
    lines.push("", `### ${s.name}`, "");
    for (const step of s.steps) {
      const after = step.servedShareDuring && Object.keys(step.servedShareDuring).length ? `; meanwhile served by ${shareText(step.servedShareDuring)}` : "";
      lines.push(`- ${step.name}: ${formatMs(step.durationMs)}, ${step.ok ? "ok" : `failed${step.error ? ` (${step.error})` : ""}`}${step.command ? ` — \`${step.command}\`` : ""}${after}`);
    }
  }
  if (r.stack) lines.push("", ...stackSection(r.stack));
  lines.push("", "## Checks", "");
  for (const c of r.checks) lines.push(`- ${c.ok ? "✔" : "✘"} ${c.name}: ${c.detail}`);
  if (!r.checks.length) lines.push("- no checks ran");
  if (r.requests.topErrors.length) {
    lines.push("", "## What the failed requests said", "");
    for (const e of r.requests.topErrors) lines.push(`- ${e.count} × ${e.error}`);
  }
  if (r.lostWriteSamples.length) {
    lines.push("", "## Lost writes (first 10)", "");
    for (const w of r.lostWriteSamples) lines.push(`- id ${w.id}: "${w.text}"`);
  }
  lines.push("", "The picture: report.svg (requests per second, errors and latency over time, stage boundaries marked).", "");
  return lines.join("\n");
}
