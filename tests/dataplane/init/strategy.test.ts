// The Postgres strategy `ferry init` drafts for a Heroku database: capture above
// CAPTURE_ABOVE_BYTES of what a copy moves, dump up to it and when the size was not
// read; the draft says why in its "decide" lines and validates with the program's parser.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../config/parse";
import { postgresStrategy } from "../../../config/strategy";
import type { DatabaseSize, Found, HerokuAppInventory } from "../../../dataplane/init/inventory";
import { herokuDraft } from "../../../dataplane/init/stack";
import { CAPTURE_ABOVE_BYTES, herokuStrategyFor } from "../../../dataplane/init/sizing";
import { validateDraft } from "../../../dataplane/init/write";
import { FAKE_SECRETS } from "../../program/stacks";

const GB = 1024 ** 3;

const app: HerokuAppInventory = {
  name: "masto-web",
  region: "us",
  processTypes: { web: "bundle exec puma", worker: "bundle exec sidekiq" },
  processTypesFrom: "slug",
  formation: [{ type: "web", quantity: 2, size: "standard-2X", monthlyCentsEach: 5000 }, { type: "worker", quantity: 1, size: "standard-1X", monthlyCentsEach: 2500 }],
  addons: [{ name: "postgresql-curved-12345", service: "heroku-postgresql", plan: "heroku-postgresql:standard-0", configVars: ["DATABASE_URL"], monthlyCents: 5000 }],
  domains: [{ hostname: "social.example.com", kind: "custom", cname: "tall-owl-0a1b2c.herokudns.com" }],
  configVarNames: ["DATABASE_URL"],
  logDrains: [],
};

const sized = (copiedBytes: number): Found<DatabaseSize> => ({ found: true, value: { app: "masto-web", addon: "postgresql-curved-12345", databaseBytes: copiedBytes + 64 * 1024 ** 2, copiedBytes } });
const unread: Found<DatabaseSize> = { found: false, reason: "postgresql-curved-12345 (DATABASE_URL of masto-web): connect ETIMEDOUT" };

/** The draft as the program reads it (with init's stand-ins let through): the strategy a `pulumi up` would run. */
function draftedStrategy(size: Found<DatabaseSize> | undefined) {
  const draft = herokuDraft([app], { region: "us-east-1" }, size);
  validateDraft(draft);
  const raw = Object.fromEntries(Object.entries(draft.config).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]));
  return { strategy: postgresStrategy(parseConfig({ ...FAKE_SECRETS, ...raw }, { allowPlaceholders: true }).source), decide: draft.decide };
}

describe("ferry init's Postgres strategy for Heroku", () => {
  it("is 1 GB of what a copy moves: dump up to it, capture above", () => {
    expect(CAPTURE_ABOVE_BYTES).toBe(GB);
    expect(herokuStrategyFor(sized(CAPTURE_ABOVE_BYTES))).toBe("dump");
    expect(herokuStrategyFor(sized(CAPTURE_ABOVE_BYTES + 1))).toBe("capture");
    expect(herokuStrategyFor(sized(0))).toBe("dump");
  });

  it("drafts capture for a large database, saying why on the key's line", () => {
    const { strategy, decide } = draftedStrategy(sized(11 * GB));
    expect(strategy).toBe("capture");
    expect(decide.filter((l) => l.startsWith("ferry:source.postgres.strategy: "))).toEqual([
      expect.stringMatching(/^ferry:source\.postgres\.strategy: capture proposed \(a copy moves 11\.00 GB\): above 1 GB a dump's write window \(up to 3 min per GB/),
    ]);
  });

  it("drafts dump for a small database, and for one whose size was not read, saying to check it", () => {
    const small = draftedStrategy(sized(400 * 1024 ** 2));
    expect(small.strategy).toBe("dump");
    expect(small.decide).toContainEqual(expect.stringMatching(/^ferry:source\.postgres\.strategy: dump proposed \(a copy moves 0\.39 GB\): up to 1 GB /));
    const notRead = draftedStrategy(unread);
    expect(notRead.strategy).toBe("dump");
    expect(notRead.decide).toContainEqual(expect.stringMatching(/^ferry:source\.postgres\.strategy: dump drafted, as the size was not read: above 1 GB \(heroku pg:info\) use capture/));
  });

  it("drafts no strategy line for apps without Postgres", () => {
    const draft = herokuDraft([{ ...app, addons: [] }], { region: "us-east-1" });
    expect(draft.decide.some((l) => l.includes("postgres.strategy"))).toBe(false);
    expect((draft.config["ferry:source"] as { postgres?: unknown }).postgres).toBeUndefined();
  });
});
