// `ferry heroku scheduler off|on` against the fake Platform API: the lever Heroku
// documents for Scheduler is the add-on itself (its jobs have no documented API and run
// as one-off dynos whatever the maintenance mode): off destroys it, on provisions the
// same plan again from what off printed, and lists the jobs to enter again.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startHerokuApi, FakeHerokuApi } from "../../../rehearsal/servers/heroku-api";
import { runFerry } from "../traffic/run-ferry";
import { API_KEY, PAGE_SIZE, mastodonApp } from "./seed";

let api: FakeHerokuApi;

beforeAll(async () => {
  api = await startHerokuApi({ apiKey: API_KEY, pageSize: PAGE_SIZE, apps: [mastodonApp()] });
});

afterAll(async () => {
  await api.stop();
});

const scheduler = (args: string[], env: Record<string, string> = {}) =>
  runFerry(["--json", "heroku", "scheduler", ...args, "--app", "famichiki"], { HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, ...env });
const schedulers = () => api.app("famichiki")!.addons.filter((a) => a.service.name === "scheduler").map((a) => a.plan.name);

describe("ferry heroku scheduler", () => {
  test("off destroys the Scheduler add-on (only it), again finds nothing; on provisions the same plan and lists the jobs to enter again", async () => {
    const others = api.app("famichiki")!.addons.filter((a) => a.service.name !== "scheduler").map((a) => a.name);
    const off = await scheduler(["off"]);
    expect(off.code, off.stderr).toBe(0);
    expect(off.json()).toEqual({ app: "famichiki", removed: [{ name: "scheduler-flat-1", plan: "scheduler:standard" }] });
    expect(schedulers()).toEqual([]);
    expect(api.app("famichiki")!.addons.map((a) => a.name)).toEqual(others);
    expect((await scheduler(["off"])).json()).toEqual({ app: "famichiki", removed: [] });

    const jobs = ["daily at 03:30 (standard-1X): bin/tootctl media remove --days 7"];
    const on = await scheduler(["on", "--from-env", "PULUMI_COMMAND_STDOUT", "--job", jobs[0]], { PULUMI_COMMAND_STDOUT: off.stdout });
    expect(on.code, on.stderr).toBe(0);
    expect(on.json()).toMatchObject({ app: "famichiki", created: [{ plan: "scheduler:standard" }], jobs });
    expect(on.stderr).toContain("enter these again: daily at 03:30 (standard-1X): bin/tootctl media remove --days 7");
    expect(schedulers()).toEqual(["scheduler:standard"]);
    // A rerun finds the add-on there: nothing provisioned twice.
    expect((await scheduler(["on", "--from-env", "PULUMI_COMMAND_STDOUT"], { PULUMI_COMMAND_STDOUT: off.stdout })).json()).toMatchObject({ created: [] });
    expect(schedulers()).toEqual(["scheduler:standard"]);
  });

  test("on without what off printed: one line naming the variable, nothing provisioned", async () => {
    const before = schedulers();
    const r = await scheduler(["on", "--from-env", "PULUMI_COMMAND_STDOUT"], { PULUMI_COMMAND_STDOUT: "not json" });
    expect([r.code, r.stderr]).toEqual([2, "ferry: scheduler on: PULUMI_COMMAND_STDOUT: not the JSON `ferry --json heroku scheduler off` prints\n"]);
    expect(schedulers()).toEqual(before);
  });
});
