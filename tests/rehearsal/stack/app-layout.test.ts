// Which process of the stack runs which part of the app: the Heroku app that is the
// streaming server (Mastodon's second app with RUN_STREAMING=true), and the box's units.
import { describe, expect, test } from "vitest";
import { join } from "node:path";
import { readStackConfig } from "../../../policy/stack-file";
import { streamingApps } from "../../../rehearsal/stack/rehearse";
import { unitCommand } from "../../../rehearsal/stack/standins/box";

const ROOT = join(__dirname, "..", "..", "..");

describe("the app's processes, by the stack", () => {
  test("the streaming server is the Heroku app a process with the streaming API's health path comes from", () => {
    expect(streamingApps(readStackConfig(join(ROOT, "Pulumi.staging.yaml")))).toEqual(["masto-streaming"]);
    expect(streamingApps(readStackConfig(join(ROOT, "Pulumi.prod.yaml")))).toEqual([]);
  });

  test("the box's units run Mastodon's commands: the streaming server, puma, sidekiq", () => {
    expect(unitCommand({ http: true, healthPath: "/api/v1/streaming/health" })).toBe("exec node ./streaming/index.js");
    expect(unitCommand({ http: true, healthPath: "/health" })).toBe("exec bundle exec puma -C config/puma.rb");
    expect(unitCommand({ http: false })).toBe("exec bundle exec sidekiq");
  });
});
