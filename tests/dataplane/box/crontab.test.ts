// A box's cron jobs as EventBridge Scheduler expressions: the conversion rules (day of
// week renumbered, `?` placed, steps rewritten, what cannot be said reported), and
// `ferry box crontab` reading a cron file over real SSH.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../rehearsal/servers";
import { parseCrontab, schedulesYaml } from "../../../dataplane/box/crontab";
import { scheduleExpression } from "../../../components/target/app/schedule";
import { runFerry } from "../traffic/run-ferry";
import { startSshd, TestSshd } from "../traffic/sshd";

describe("parseCrontab", () => {
  test("converts the usual lines, each to an expression EventBridge Scheduler accepts", () => {
    const { jobs, skipped } = parseCrontab([
      "MAILTO=ops@example.com",
      "# media cleanup",
      "30 3 * * * cd /home/mastodon/live && RAILS_ENV=production bin/tootctl media remove --days 7",
      "*/15 * * * * bin/tootctl search deploy --only accounts",
      "0 4 * * 0 bin/weekly-sunday",
      "0 4 * * 1-5 bin/weekdays",
      "0 5 1 * * bin/monthly",
      "@hourly bin/hourly",
    ].join("\n"));
    expect(skipped).toEqual([]);
    expect(jobs.map((j) => [j.line, j.schedule])).toEqual([
      [3, "cron(30 3 * * ? *)"],
      [4, "cron(0/15 * * * ? *)"],
      [5, "cron(0 4 ? * 1 *)"],
      [6, "cron(0 4 ? * 2-6 *)"],
      [7, "cron(0 5 1 * ? *)"],
      [8, "cron(0 * * * ? *)"],
    ]);
    expect(jobs[0].command).toBe("cd /home/mastodon/live && RAILS_ENV=production bin/tootctl media remove --days 7");
    for (const j of jobs) expect(scheduleExpression(j.schedule, "k")).toBe(j.schedule);
  });

  test("reports what EventBridge cannot express rather than guess", () => {
    const { jobs, skipped } = parseCrontab("@reboot bin/start\n0 4 1 * 1 bin/both-days\n5 4 * bin/short\n");
    expect(jobs).toEqual([]);
    expect(skipped.map((s) => [s.line, s.why.split(" ")[0]])).toEqual([[1, "@reboot"], [2, "day-of-month"], [3, "fewer"]]);
  });

  test("a system cron file's user field is dropped", () => {
    const { jobs } = parseCrontab("30 3 * * * mastodon bin/tootctl media remove\n@daily mastodon bin/daily\n", true);
    expect(jobs.map((j) => [j.schedule, j.command])).toEqual([["cron(30 3 * * ? *)", "bin/tootctl media remove"], ["cron(0 0 * * ? *)", "bin/daily"]]);
  });

  test("as compute.schedules entries", () => {
    expect(schedulesYaml([{ schedule: "cron(30 3 * * ? *)", command: 'echo "hi"', line: 1 }], "sidekiq")).toBe('- { name: cron-1, process: sidekiq, command: "echo \\"hi\\"", schedule: "cron(30 3 * * ? *)" }');
  });
});

describe("ferry box crontab over SSH", () => {
  let sshd: TestSshd;
  let file: string;

  beforeAll(async () => {
    sshd = await startSshd();
    file = join(tempDir("cron"), "mastodon");
    writeFileSync(file, "SHELL=/bin/bash\n30 3 * * * mastodon bin/tootctl media remove --days 7\n@reboot mastodon bin/warm\n");
  });

  afterAll(() => sshd?.stop());

  const crontab = (extra: string[]) => runFerry(["box", "crontab", "--host", `${sshd.user}@127.0.0.1:${sshd.port}`, "--ssh-key-env", "FERRY_TEST_SSH_KEY", "--known-hosts", sshd.knownHosts, ...extra], { FERRY_TEST_SSH_KEY: sshd.clientKey });

  test("prints the schedules to paste, and what was not converted", async () => {
    const r = await crontab(["--file", file, "--process", "sidekiq"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe([
      "# ferry:target.compute.schedules (times are UTC unless you add timezone: ...)",
      '- { name: cron-1, process: sidekiq, command: "bin/tootctl media remove --days 7", schedule: "cron(30 3 * * ? *)" }',
      "# not converted, line 3: @reboot mastodon bin/warm (@reboot has no schedule: run it as part of the service instead)",
      "",
    ].join("\n"));
  });

  test("a missing file, a bad flag: one line each", async () => {
    const missing = await crontab(["--file", "/nonexistent/cron"]);
    expect([missing.code, missing.stderr]).toEqual([1, `ferry: --file /nonexistent/cron on ${sshd.user}@127.0.0.1:${sshd.port}: cat: /nonexistent/cron: No such file or directory\n`]);
    const user = await crontab(["--user", "Bad User"]);
    expect([user.code, user.stderr]).toEqual([2, 'ferry: --user must be a Unix user name: "Bad User"\n']);
  });
});

describe("ferry box crontab off|on over SSH: the jobs that moved to EventBridge, switched off on the box and back", () => {
  let sshd: TestSshd;
  let file: string;
  const original = "SHELL=/bin/bash\n# media\n30 3 * * * mastodon bin/tootctl media remove --days 7\n*/10 * * * * mastodon bin/rails mastodon:refresh_trends\n@reboot mastodon bin/warm\n";
  const declared = ["bin/tootctl media remove --days 7", "bin/rails mastodon:refresh_trends"];

  beforeAll(async () => {
    sshd = await startSshd();
    file = join(tempDir("cron-switch"), "mastodon");
  });

  afterAll(() => sshd?.stop());

  const crontab = (extra: string[]) => runFerry(["--json", "box", "crontab", ...extra, "--host", `${sshd.user}@127.0.0.1:${sshd.port}`, "--ssh-key-env", "FERRY_TEST_SSH_KEY", "--known-hosts", sshd.knownHosts, "--file", file], { FERRY_TEST_SSH_KEY: sshd.clientKey });

  test("off comments out every declared job (not @reboot), again changes nothing; on puts back exactly what was there", async () => {
    writeFileSync(file, original);
    const off = await crontab(["off", ...declared.flatMap((d) => ["--declared", d])]);
    expect(off.code, off.stderr).toBe(0);
    expect(off.json()).toMatchObject({ state: "off", lines: [3, 4] });
    expect(readFileSync(file, "utf8")).toBe(original.replace("30 3", "#ferry-off# 30 3").replace("*/10", "#ferry-off# */10"));
    const again = await crontab(["off", ...declared.flatMap((d) => ["--declared", d])]);
    expect(again.stdout).toBe(off.stdout);
    const on = await crontab(["on"]);
    expect(on.code, on.stderr).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(original);
  });

  test("a job whose command is not declared would run nowhere: refused, naming its line, nothing changed", async () => {
    writeFileSync(file, original);
    const r = await crontab(["off", "--declared", declared[0]]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ferry: ferry:target.compute.schedules: ${file} on ${sshd.user}@127.0.0.1:${sshd.port} has job line(s) 4 whose command is not declared: it would stop on the box and run nowhere; declare it (\`ferry box crontab\` prints it) or remove it from the crontab; nothing changed\n`);
    expect(readFileSync(file, "utf8")).toBe(original);
  });
});
