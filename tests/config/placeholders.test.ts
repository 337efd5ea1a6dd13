// `ferry init`'s stand-ins (config/placeholders.ts) pass the shape checks, so a drafted
// stack can be read and priced; the program must refuse each one, naming its key.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/parse";
import { PLACEHOLDERS } from "../../config/placeholders";
import { boxDraft } from "../../dataplane/init/stack";
import { validateDraft } from "../../dataplane/init/write";
import { FAKE_SECRETS, stackConfig } from "../program/stacks";

function patched(stack: "staging" | "prod", key: "ferry:source" | "ferry:target", patch: (value: any) => void): Record<string, string> {
  const raw = stackConfig(stack);
  const value = JSON.parse(raw[key]);
  patch(value);
  return { ...raw, [key]: JSON.stringify(value) };
}

const P = PLACEHOLDERS;

// Every stand-in init writes, where it writes it.
const CASES: [string, (typeof P)[keyof typeof P], () => Record<string, string>][] = [
  ["ferry:target.cloudflare.accountId", P.accountId, () => patched("staging", "ferry:target", (t) => (t.cloudflare.accountId = P.accountId.value))],
  ["ferry:target.cloudflare.zoneId", P.zoneId, () => patched("staging", "ferry:target", (t) => (t.cloudflare.zoneId = P.zoneId.value))],
  ["ferry:target.cloudflare.hostnames[1].record.id", P.recordId, () => patched("staging", "ferry:target", (t) => (t.cloudflare.hostnames[1].record.id = `${P.recordId.value}02`))],
  ["ferry:target.compute.processes.web.image", P.image, () => patched("staging", "ferry:target", (t) => (t.compute.processes.web.image = P.image.value))],
  ["ferry:target.runner.ami", P.runnerAmi, () => patched("staging", "ferry:target", (t) => (t.runner.ami = P.runnerAmi.value))],
  ["ferry:target.runner.sshPublicKey", P.runnerKey, () => patched("staging", "ferry:target", (t) => (t.runner.sshPublicKey = P.runnerKey.value))],
  ["ferry:target.runner.sshCidrs[0]", P.operatorCidr, () => patched("staging", "ferry:target", (t) => (t.runner.sshCidrs = [P.operatorCidr.value]))],
  ["ferry:target.runner.ferryRepo", P.ferryRepo, () => patched("staging", "ferry:target", (t) => (t.runner.ferryRepo = P.ferryRepo.value))],
  ["ferry:source.instanceId", P.instanceId, () => patched("prod", "ferry:source", (s) => (s.instanceId = P.instanceId.value))],
  ["ferry:source.ssh.hostKey", P.hostKey, () => patched("prod", "ferry:source", (s) => (s.ssh.hostKey = P.hostKey.value))],
];

describe("ferry init's stand-ins", () => {
  it("cover every stand-in init writes", () => {
    expect(new Set(CASES.map(([, placeholder]) => placeholder))).toEqual(new Set(Object.values(P)));
  });

  it.each(CASES)("%s: refused by the program, naming the key and what goes there; let through for init's draft and the plan", (key, placeholder, raw) => {
    expect(() => parseConfig(raw())).toThrow(`${key}: still the stand-in ferry init wrote (${placeholder.note})`);
    expect(() => parseConfig(raw(), { allowPlaceholders: true })).not.toThrow();
  });

  it("leave the example stacks' own values alone (203.0.113.7/32, github.com/example/ferry.git)", () => {
    expect(() => parseConfig(stackConfig("staging"))).not.toThrow();
    expect(() => parseConfig(stackConfig("prod"))).not.toThrow();
  });

  it("a box draft validates for init, and the program refuses it until the stand-ins are replaced", () => {
    const draft = boxDraft({
      host: "203.0.113.9", user: "root", port: 22,
      postgres: { found: true, value: { version: "15.8", databases: [{ name: "app", bytes: 1 << 20 }] } },
      redis: { found: false, reason: "redis-cli not found" },
      nginx: { found: true, value: { serverNames: ["social.example.com"] } },
      processes: { found: true, value: { from: "systemd", names: ["mastodon-web"] } },
      crontab: { found: true, value: [] },
      monthlyCents: null,
    }, { region: "eu-central-1" });
    expect(() => validateDraft(draft)).not.toThrow();
    const raw = Object.fromEntries(Object.entries(draft.config).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]));
    expect(() => parseConfig({ ...FAKE_SECRETS, ...raw })).toThrow(/^ferry:source\.instanceId: still the stand-in ferry init wrote \(TODO: the box's Vultr instance id/);
  });
});
