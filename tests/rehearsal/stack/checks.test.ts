// The stack rehearsal's own checks (rehearsal/stack/rehearse.ts), from recorded ups:
// each names what failed, where, and what it was.
import { describe, expect, test } from "vitest";
import type { FerryConfig } from "../../../config";
import { deploymentsCheck, failuresOutsideCutoverCheck, secondUpCheck } from "../../../rehearsal/stack/rehearse";
import type { RequestEvent } from "../../../rehearsal/timeline";

const flags = (cutover: boolean) => ({ stages: { replicate: true, proxy: true, trafficPercent: 100, cutover, decommission: false, hold: {} } }) as unknown as FerryConfig;
const up = (label: string, cutover: boolean, startedAt: number, endedAt: number) => ({ label, config: flags(cutover), startedAt, endedAt });
const request = (sentAt: number, ok: boolean, kind: "read" | "write" = "write", error?: string): RequestEvent => ({ kind, sentAt, doneAt: sentAt + 10, ok, status: ok ? 201 : 503, error });

describe("the stack rehearsal's checks", () => {
  test("the second up: every change is named with its stage; reads alone pass", () => {
    const read = { resource: "release", type: "command:local:Command", op: "update" as const, ok: true, verdict: "read" as const, what: "ran (update: environment); stdout as before" };
    const change = { resource: "config", type: "command:local:Command", op: "update" as const, ok: true, verdict: "change" as const, what: "ran (update: environment); stdout changed at versionId" };
    expect(secondUpCheck([{ label: "provision (again)", secondUp: [read] }])).toMatchObject({ ok: true, detail: "1 second up(s); 1 step(s) ran, all reads" });
    expect(secondUpCheck([{ label: "provision" }, { label: "provision (again)", secondUp: [read, change] }])).toMatchObject({
      ok: false,
      detail: "1 change(s): provision (again): config (update): ran (update: environment); stdout changed at versionId",
    });
  });

  test("failures outside the cutover's window are listed with their stage; the window itself is expected", () => {
    const ups = [up("proxy 10%", false, 0, 100), up("cutover", true, 200, 400), up("cutover (again)", true, 400, 500)];
    const requests = [
      request(50, false, "read", "error 1016: origin DNS error"),
      request(150, false, "write", "timeout"),
      request(160, true),
      ...[250, 260, 270].map((t) => request(t, false, "write", "cannot execute INSERT in a read-only transaction")),
      request(280, true),
      request(450, false, "read", "timeout"),
    ];
    const check = failuresOutsideCutoverCheck(ups, requests);
    expect(check.ok).toBe(false);
    expect(check.detail).toBe("3 failed outside it: proxy 10%: 1 × read error 1016: origin DNS error; after proxy 10%: 1 × write timeout; cutover (again): 1 × read timeout");
    expect(failuresOutsideCutoverCheck(ups, requests.slice(3, 7))).toMatchObject({ ok: true, detail: "3 failed request(s), all inside the cutover window (1)" });
  });

  test("a deployment the circuit breaker rolled back fails the check, naming the service and both revisions", () => {
    const arn = (r: number) => `arn:aws:ecs:us-east-1:000000000000:task-definition/ferry-app-web:${r}`;
    expect(deploymentsCheck([{ service: "ferry-app-web", declared: arn(3), running: arn(3), rolledBack: false, failedTasks: 0 }])).toMatchObject({ ok: true });
    expect(deploymentsCheck([{ service: "ferry-app-web", declared: arn(3), running: arn(2), rolledBack: true, failedTasks: 3 }])).toMatchObject({
      ok: false,
      detail: "ferry-app-web: declared ferry-app-web:3, runs ferry-app-web:2: 3 new task(s) failed to start or to pass their health checks, and pulumi up reported success",
    });
  });
});
