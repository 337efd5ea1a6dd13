// The release-phase step's shell, run for real under sh with a stand-in `aws` on PATH
// that answers as the AWS CLI documents for run-task / stop-task / describe-tasks
// (`--query ... --output text`): a task that exits 0 lets the step
// succeed; a non-zero exit, or a task that never started (RunTask returns `failures` and
// no task: the query prints "None"), fails the step in one line, so the services keep
// the previous task definition.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../rehearsal/servers";
import { runTaskCommand } from "../../components/target/app/steps";

function fakeAws(dir: string): void {
  writeFileSync(join(dir, "aws"), `#!/bin/sh
echo "$*" >> "$AWS_LOG"
case "$*" in
  *" run-task "*) if [ "$FAKE_START" = no ]; then echo None; else echo arn:aws:ecs:us-east-1:123456789012:task/c/0123abcd; fi ;;
  *" describe-tasks "*"lastStatus"*)
    n=$(cat "$AWS_POLLS" 2>/dev/null || echo 0); echo $((n + 1)) > "$AWS_POLLS"
    if [ "$n" = "\${FAKE_THROTTLED_POLL:-}" ]; then echo "An error occurred (ThrottlingException) when calling the DescribeTasks operation: Rate exceeded" >&2; exit 254; fi
    if [ "$n" -ge "\${FAKE_RUNNING_POLLS:-0}" ]; then echo STOPPED; else echo RUNNING; fi ;;
  *" describe-tasks "*) echo "$FAKE_EXIT" ;;
  *" stop-task "*) ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`);
  chmodSync(join(dir, "aws"), 0o755);
}

function runStep(env: Record<string, string>) {
  const dir = tempDir("fake-aws");
  fakeAws(dir);
  const log = join(dir, "calls.log");
  writeFileSync(log, "");
  const script = runTaskCommand({
    region: "us-east-1", cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/c", taskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/t-release:4",
    subnets: ["subnet-a", "subnet-b"], securityGroups: ["sg-1"], what: "release phase of masto-web v42", poll: { seconds: 0.01, attempts: 5 },
  });
  const r = spawnSync("sh", ["-c", script], { env: { PATH: `${dir}:${process.env.PATH}`, AWS_LOG: log, AWS_POLLS: join(dir, "polls"), ...env }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls: readFileSync(log, "utf8").trim().split("\n") };
}

describe("release phase step", () => {
  it("runs the task, waits for it, and succeeds when the app container exited 0", () => {
    const r = runStep({ FAKE_EXIT: "0" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("ferry: release phase of masto-web v42 succeeded\n");
    expect(r.calls[0]).toMatch(/^ecs --region us-east-1 run-task --cluster \S+cluster\/c --task-definition \S+t-release:4 --launch-type FARGATE/);
    expect(r.calls.map((c) => c.split(" ")[3])).toEqual(["run-task", "describe-tasks", "describe-tasks"]);
    expect(r.calls[1]).toContain("--query tasks[0].lastStatus --output text");
  });

  it("asks again until the task stopped, through a throttled poll", () => {
    const r = runStep({ FAKE_EXIT: "0", FAKE_RUNNING_POLLS: "3", FAKE_THROTTLED_POLL: "1" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.calls.filter((c) => c.includes("lastStatus")).length).toBe(4);
  });

  it("fails in one line when the release exits non-zero", () => {
    const r = runStep({ FAKE_EXIT: "1" });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ferry: release phase of masto-web v42 failed (exit 1; logs in CloudWatch); the services keep the previous release\n");
  });

  it("fails when no task started (RunTask failures, e.g. no capacity)", () => {
    const r = runStep({ FAKE_START: "no", FAKE_EXIT: "0" });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ferry: release phase of masto-web v42: the task did not start\n");
  });

  it("stops the task and fails once its polls are used up (by default 2 hours of them)", () => {
    const r = runStep({ FAKE_EXIT: "0", FAKE_RUNNING_POLLS: "99" });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ferry: release phase of masto-web v42: still running after 0.05 s; stopping it\n");
    expect(r.calls.filter((c) => c.includes("lastStatus")).length).toBe(5);
    expect(r.calls.some((c) => c.includes(" stop-task "))).toBe(true);
  });
});
