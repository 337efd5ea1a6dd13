import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { buildReport } from "../../rehearsal/report/build";
import { renderMarkdown } from "../../rehearsal/report/markdown";
import { renderSvg } from "../../rehearsal/report/svg";
import { perSecond, writeOutages } from "../../rehearsal/report/analysis";
import { scrub, writeReport } from "../../rehearsal/report/write";
import { RequestEvent, RunTimeline } from "../../rehearsal/timeline";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/**
 * A recorded 30 s run: a write every 100 ms and a read every 200 ms, with writes
 * refused from 12.0 s to 15.0 s (the cutover) and one stray 502 at 20.0 s.
 */
function recordedTimeline(): RunTimeline {
  const requests: RequestEvent[] = [];
  const acked: RunTimeline["acked"] = [];
  for (let ms = 0; ms < 30_000; ms += 100) {
    const refused = ms >= 12_000 && ms < 15_000;
    const stray = ms === 20_000;
    const ok = !refused && !stray;
    const servedBy = ms < 15_000 ? "source" : "target-final";
    requests.push({ kind: "write", sentAt: T0 + ms, doneAt: T0 + ms + 20, ok, status: ok ? 201 : refused ? 503 : 502, servedBy, error: ok ? undefined : refused ? "cannot execute INSERT in a read-only transaction" : "502 Bad Gateway" });
    if (ok) acked.push({ id: String(1000 + ms / 100), text: `w ${ms}`, accountId: 1 + (ms % 7), sentAt: T0 + ms, ackAt: T0 + ms + 20, servedBy });
    if (ms % 200 === 0) requests.push({ kind: "read", sentAt: T0 + ms, doneAt: T0 + ms + 5, ok: true, status: 200, servedBy });
  }
  const stage = (name: string, from: number, to: number, outcome: "ok" | "failed" | "skipped" = "ok") => ({ name, startedAt: T0 + from, endedAt: T0 + to, outcome, steps: [] });
  return {
    source: "vultr",
    pgStrategy: "physical",
    redisMode: "replicaof",
    startedAt: T0,
    endedAt: T0 + 30_000,
    stages: [
      stage("provision", 1000, 4000),
      stage("replicate", 4000, 8000),
      stage("proxy", 8000, 11_000),
      { ...stage("cutover", 11_000, 16_000), steps: [{ name: "ferry pg cutover (physical)", startedAt: T0 + 11_500, endedAt: T0 + 14_500, ok: true, command: "ferry pg cutover --strategy physical", exitCode: 0 }] },
      stage("decommission", 16_000, 29_000),
    ],
    requests,
    acked,
    lost: [acked[3]],
    checks: [{ name: "every acknowledged write is on the target", ok: false, detail: "1 lost" }],
    cutover: { writeUnavailableMs: 2500, lagBytesAtFence: 4096 },
    volumes: { rows: { accounts: 200, statuses: 15800 }, databaseBytes: 11 * 1024 * 1024, redisKeys: 202, feeds: 200, seed: "a generated sample" },
  };
}

describe("report from a recorded timeline", () => {
  test("the longest write outage runs from the first refused write to the next acknowledgement", () => {
    const windows = writeOutages(recordedTimeline().requests);
    expect(windows).toHaveLength(2);
    // first refusal sent at 12.0 s; next success (sent 15.0 s) acknowledged at 15.02 s
    expect(windows[0]).toEqual({ start: T0 + 12_000, end: T0 + 15_020, failedWrites: 30 });
    expect(windows[1]).toEqual({ start: T0 + 20_000, end: T0 + 20_120, failedWrites: 1 });
  });

  test("an outage that never ends lasts until the last failure", () => {
    const reqs: RequestEvent[] = [
      { kind: "write", sentAt: T0, doneAt: T0 + 10, ok: true, status: 201 },
      { kind: "write", sentAt: T0 + 100, doneAt: T0 + 5100, ok: false, status: 0, error: "timeout" },
      { kind: "write", sentAt: T0 + 200, doneAt: T0 + 300, ok: false, status: 502 },
    ];
    expect(writeOutages(reqs)).toEqual([{ start: T0 + 100, end: T0 + 5100, failedWrites: 2 }]);
  });

  test("report.json figures", () => {
    const r = buildReport(recordedTimeline());
    expect(r.ok).toBe(false);
    expect(r.acknowledgedWrites).toBe(269);
    expect(r.lostWrites).toBe(1);
    expect(r.lostWriteSamples[0]).toEqual({ id: "1003", text: "w 300" });
    expect(r.writeUnavailableMs).toBe(3020);
    expect(r.writeOutages).toBe(2);
    expect(r.writeUnavailableSteps).toEqual([{ stage: "cutover", step: "ferry pg cutover (physical)", durationMs: 3000 }]);
    expect(r.cutoverWriteUnavailableMs).toBe(2500);
    expect(r.replicationLagAtCutoverBytes).toBe(4096);
    expect(r.requests).toMatchObject({ writes: 300, writeErrors: 31, reads: 150, readErrors: 0 });
    expect(r.stages.map((s) => [s.name, s.durationMs, s.outcome])).toEqual([
      ["provision", 3000, "ok"], ["replicate", 4000, "ok"], ["proxy", 3000, "ok"], ["cutover", 5000, "ok"], ["decommission", 13_000, "ok"],
    ]);
    expect(r.stages[0].startedAt).toBe("2026-01-01T12:00:01.000Z");
    expect(r.stages[4].servedShare).toEqual({ "target-final": 1 });
    // reads kept being served by the source while the cutover step ran
    expect(r.stages[3].steps[0].servedShareDuring).toEqual({ source: 1 });
  });

  test("report.md says it in plain words", () => {
    const md = renderMarkdown(buildReport(recordedTimeline()));
    expect(md).toContain("FAILED");
    expect(md).toContain("269 writes acknowledged");
    expect(md).toContain("**1 of them are missing or different on the target**");
    expect(md).toContain("Writes were unavailable for at most 3.0 s");
    expect(md).toContain("write fence at 2.5 s");
    expect(md).toContain("During that window: ferry pg cutover (physical) (3.0 s).");
    expect(md).toContain("4.0 kB (4096 bytes)");
    expect(md).toContain("200 accounts, 15800 statuses; database 11.0 MB");
    expect(md).toMatch(/\| cutover \| 12:00:11.000 \| 5.0 s \| ok/);
    expect(md).toContain("30 × cannot execute INSERT in a read-only transaction");
  });

  test("what a user felt in the ups across cutover: failed requests, failed writes and the longest wait, beside ferry's window", () => {
    const t = recordedTimeline();
    // One write waits 900 ms inside the cutover's up (a pooler holding it); one outside it waits longer and is not counted.
    t.requests.push({ kind: "write", sentAt: T0 + 13_000, doneAt: T0 + 13_900, ok: true, status: 201 });
    t.requests.push({ kind: "write", sentAt: T0 + 5_000, doneAt: T0 + 7_000, ok: true, status: 201 });
    expect(buildReport(t).atCutover).toBeNull();
    const r = buildReport({ ...t, cutoverSpans: [{ name: "cutover", startedAt: T0 + 11_000, endedAt: T0 + 16_000 }] });
    // Writes refused from 12.0 s to 15.0 s: 30 of them, all inside the up.
    expect(r.atCutover).toMatchObject({ failedRequests: 30, failedWrites: 30, longestWaitMs: 900 });
    expect(renderMarkdown(r)).toContain(`30 of ${r.atCutover!.requests} requests failed (30 writes), and the longest waited 900 ms, beside the 2.5 s window ferry measured`);
  });

  test("steps in the window that start Fargate tasks are named, with how the rehearsal modelled them (or that it did not)", () => {
    const t = recordedTimeline();
    const cutover = t.stages[3];
    cutover.steps.push(
      { name: "replace ferry-app-image-release-phase", startedAt: T0 + 12_500, endedAt: T0 + 13_000, ok: true },
      { name: "update ferry-app-web", startedAt: T0 + 13_000, endedAt: T0 + 14_800, ok: true },
      { name: "update ferry-dns-0", startedAt: T0 + 14_800, endedAt: T0 + 14_900, ok: true },
    );
    const step = (op: string, resource: string, type: string, command?: string) => ({ resource, type, op, ok: true, ms: 100, ...(command ? { command } : {}) });
    t.stack = {
      name: "prod",
      ups: [{
        stage: "cutover", ok: true, resources: 3, seconds: 5,
        steps: [
          step("update", "ferry-app-web", "aws:ecs/taskDefinition:TaskDefinition"),
          step("replace", "ferry-app-image-release-phase", "command:remote:Command", "set -eu\ntask=$(aws ecs --region eu-central-1 run-task --cluster c)"),
          step("update", "ferry-app-web", "aws:ecs/service:Service"),
          step("update", "ferry-dns-0", "cloudflare:index/dnsRecord:DnsRecord"),
        ],
      }],
    };
    const r = buildReport(t);
    expect(r.windowTaskStarts).toEqual({ steps: ["replace ferry-app-image-release-phase", "update ferry-app-web"], healthChecks: { passing: 1, intervalSeconds: 5 } });
    expect(renderMarkdown(r)).toContain(
      "On AWS that window is longer: replace ferry-app-image-release-phase, update ferry-app-web start Fargate tasks, which the rehearsal starts as local processes.",
    );
    expect(renderMarkdown(buildReport(recordedTimeline()))).not.toContain("On AWS that window is longer");
    // A run that modelled ECS says how, and by what factor its times were shortened.
    const modelled = renderMarkdown(buildReport({ ...t, ecs: { timeFactor: 5, fargateStartSeconds: 30 } }));
    expect(modelled).toContain("update ferry-app-web start Fargate tasks; the rehearsal modelled them: each task starts after Fargate's provisioning (30 s, assumed: AWS publishes no figure)");
    expect(modelled).toContain("all these times divided by 5 (--time-factor): on AWS that part of the window is up to 5 times longer.");
    expect(renderMarkdown(buildReport({ ...t, ecs: { timeFactor: 1, fargateStartSeconds: 30 } }))).toContain("at AWS's own times.");
  });

  test("report.svg: three panels, stage boundaries at their times, the outage shaded", () => {
    const t = recordedTimeline();
    const svg = renderSvg(t);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    for (const name of ["provision", "replicate", "proxy", "cutover", "decommission"]) expect(svg).toContain(`${name} (ok)`);
    // x = 60 + (t / 30 s) * 880: the cutover line at 11 s sits at 382.7
    expect(svg).toContain('x1="382.7"');
    expect(svg).toContain("<title>writes unavailable 3020 ms</title>");
    expect(svg.match(/<polyline /g)).toHaveLength(4);
    // errors/s panel: bars only in the seconds with failures (12, 13, 14 and 20)
    const buckets = perSecond(t.requests, t.startedAt, t.endedAt);
    expect(buckets.filter((b) => b.errors > 0).map((b) => (b.t - T0) / 1000)).toEqual([12, 13, 14, 20]);
    expect(svg.match(/fill="#cf222e"\/>/g)).toHaveLength(4);
    // every opened element is closed
    const opened = (svg.match(/<(svg|text|title|rect)\b(?:[^>]*[^/])?>/g) ?? []).length;
    const closed = (svg.match(/<\/(svg|text|title|rect)>/g) ?? []).length;
    expect(opened).toBe(closed);
  });

  test("secrets are scrubbed from every report file", () => {
    expect(scrub('{"url":"postgresql://postgres:s3cretpw@127.0.0.1/db","again":"s3cretpw"}', ["s3cretpw"])).toBe('{"url":"postgresql://postgres:***@127.0.0.1/db","again":"***"}');
    // The kinds of secret a run knows (rehearse.ts: passwords, the app's keys, the
    // stand-ins' API keys), slipped into every text a report file is built from.
    // The last one holds what JSON and XML escape (an SSH key's newlines, quotes, &, <).
    const secrets = ["pg-pw-4f1c9e", "redis-pw-7b20d1", "skb-0a9f8e7d6c5b4a39", "AKIAREHEARSAL0000000", "x".repeat(12) + "aws-secret-key\n\"&<key>\\"];
    const [pg, redis, skb, keyId, awsKey] = secrets;
    const t = recordedTimeline();
    t.requests[120] = { ...t.requests[120], error: `connect postgresql://app:${pg}@10.0.0.5/app refused` };
    t.stages[3] = { ...t.stages[3], detail: `redis://:${redis}@127.0.0.1:6380 is still read-only`, steps: [{ ...t.stages[3].steps[0], ok: false, error: `SECRET_KEY_BASE=${skb}` }] };
    t.stages[4] = { ...t.stages[4], name: `decommission ${keyId}` };
    t.checks = [{ name: "the app's config moved", ok: false, detail: `AWS_SECRET_ACCESS_KEY=${awsKey} differs` }];
    const unscrubbed = mkdtempSync(join(tmpdir(), "ferry-report-raw-"));
    const scrubbed = mkdtempSync(join(tmpdir(), "ferry-report-"));
    writeReport(t, unscrubbed);
    writeReport(t, scrubbed, secrets);
    // A secret is in a file if the file holds it in any encoding a reader would undo.
    const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
    const found = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((file) => {
      const text = readFileSync(join(dir, file), "utf8");
      return [file, secrets.filter((secret) => [secret, JSON.stringify(secret).slice(1, -1), xml(secret)].some((form) => text.includes(form)))];
    }));
    // Each file carried secrets before scrubbing: the test reaches every one of them.
    const raw = found(unscrubbed);
    expect(Object.keys(raw)).toEqual(["report.json", "report.md", "report.svg", "timeline.json"]);
    for (const [file, present] of Object.entries(raw)) expect(present, file).not.toEqual([]);
    expect(raw["timeline.json"]).toEqual(secrets);
    expect(found(scrubbed)).toEqual({ "report.json": [], "report.md": [], "report.svg": [], "timeline.json": [] });
  });

  test("jobs never run or run twice, Sidekiq jobs missing, uploads outside the app's bucket: each fails the report and is said in plain words", () => {
    const clean = buildReport({
      ...recordedTimeline(), lost: [],
      checks: [{ name: "every acknowledged write is on the target", ok: true, detail: "all there" }],
      jobs: { enqueued: 300, enqueuedBeforeCutover: 120, neverRan: [], ranMoreThanOnce: [] },
      sidekiqSets: { seeded: { schedule: 10, retry: 10, dead: 10 }, missing: [], duplicated: [] },
      uploads: { acknowledged: 50, bucket: "app-media", missing: [] },
    });
    expect(clean.ok).toBe(true);
    expect(renderMarkdown(clean)).toContain("The app enqueued 300 jobs (120 before the cutover); each ran exactly once.");

    const findings = buildReport({
      ...recordedTimeline(), lost: [],
      checks: [{ name: "every acknowledged write is on the target", ok: true, detail: "all there" }],
      jobs: { enqueued: 300, enqueuedBeforeCutover: 120, neverRan: [{ jid: "j1", statusId: "1001", beforeCutover: true }], ranMoreThanOnce: [{ jid: "j2", statusId: "1002", runs: 2, ranOn: ["heroku:worker.1", "ecs:ab-cd"], beforeCutover: true }] },
      sidekiqSets: { seeded: { schedule: 10, retry: 10, dead: 10 }, missing: [{ set: "schedule", jid: "s1" }], duplicated: [] },
      uploads: { acknowledged: 50, bucket: "app-media", missing: [{ key: "media_attachments/files/x/original/a.png", foundIn: "ferry-storage-bucket" }] },
    });
    expect(findings.ok).toBe(false);
    expect(findings.jobs).toMatchObject({ neverRan: 1, ranMoreThanOnce: 1 });
    expect(findings.uploads).toMatchObject({ missing: 1 });
    const md = renderMarkdown(findings);
    expect(md).toContain("**1 never ran, 1 ran more than once**");
    expect(md).toContain("j2 (status 1002, enqueued before the cutover) ran 2 times: heroku:worker.1, ecs:ab-cd");
    expect(md).toContain("**1 jobs missing, 0 duplicated**");
    expect(md).toContain("**1 are not in the app's own bucket app-media** (they went to ferry-storage-bucket)");
  });
});

describe("failures outside the cutover's write window", () => {
  const stages = recordedTimeline().stages;
  const cutover = stages.filter((s) => s.name === "cutover");

  test("the cutover window is the write outage that overlaps the cutover stage; a stray failure elsewhere is named with its stage", async () => {
    const { cutoverWindows, failuresOutside } = await import("../../rehearsal/report/analysis");
    const requests = recordedTimeline().requests;
    const windows = cutoverWindows(requests, cutover);
    expect(windows).toEqual([{ start: T0 + 12_000, end: T0 + 15_020, failedWrites: 30 }]);
    expect(failuresOutside(requests, windows, stages)).toEqual([{ stage: "decommission", error: "write 502 Bad Gateway", count: 1 }]);
  });

  test("a read failing during the window, or in flight when it opened, is inside it; failures between stages are named after the stage before", async () => {
    const { cutoverWindows, failuresOutside } = await import("../../rehearsal/report/analysis");
    const requests: RequestEvent[] = [
      ...recordedTimeline().requests,
      { kind: "read", sentAt: T0 + 13_000, doneAt: T0 + 13_010, ok: false, status: 503, error: "maintenance" },
      // In flight when the fence went up (sent before the first refused write, failed after it).
      { kind: "read", sentAt: T0 + 11_900, doneAt: T0 + 12_050, ok: false, status: 503, error: "terminating connection due to administrator command" },
      { kind: "read", sentAt: T0 + 29_500, doneAt: T0 + 34_500, ok: false, status: 0, error: "timeout" },
      { kind: "read", sentAt: T0 + 500, doneAt: T0 + 600, ok: false, status: 530, error: "error 1016: origin DNS error" },
    ];
    const outside = failuresOutside(requests, cutoverWindows(requests, cutover), stages);
    expect(outside).toEqual([
      { stage: "decommission", error: "write 502 Bad Gateway", count: 1 },
      { stage: "after decommission", error: "read timeout", count: 1 },
      { stage: "before provision", error: "read error 1016: origin DNS error", count: 1 },
    ]);
  });

  test("with no cutover stage, every failure is outside", async () => {
    const { cutoverWindows, failuresOutside } = await import("../../rehearsal/report/analysis");
    const requests = recordedTimeline().requests;
    expect(failuresOutside(requests, cutoverWindows(requests, []), stages).reduce((n, f) => n + f.count, 0)).toBe(31);
  });
});
