// The Heroku source's pure pieces: the read command lines, parsing what `ferry --json
// heroku addons|domains` prints, the inventory check against ferry:source, the origin.
// No Pulumi runtime.
import { describe, expect, it } from "vitest";
import {
  HerokuAppInventory, assertInventory, checkInventory, herokuOrigin, herokuReads, parseAddons, parseDomains,
} from "../../components/source/heroku";
import type { HerokuSourceConfig } from "../../config";

const source: HerokuSourceConfig = {
  kind: "heroku",
  apps: [
    { name: "masto-web", processes: { web: 2 }, hostnames: ["social.example.com"] },
    { name: "masto-streaming", processes: { web: 1 }, hostnames: ["streaming.social.example.com"] },
  ],
  postgres: { app: "masto-web", configVar: "TARGET_DATABASE_URL", addon: "postgresql-curved-12345", strategy: "dump" },
  redis: { app: "masto-web", configVar: "APP_REDIS_URL", addon: "redis-rigid-67890", sidekiq: true },
};

const inventory = (): HerokuAppInventory[] => [
  {
    app: "masto-web",
    addons: [
      { name: "postgresql-curved-12345", service: "heroku-postgresql", plan: "heroku-postgresql:standard-0", state: "provisioned", configVars: ["DATABASE_URL"] },
      { name: "redis-rigid-67890", service: "heroku-redis", plan: "heroku-redis:premium-0", state: "provisioned", configVars: ["REDIS_URL"] },
    ],
    domains: [
      { hostname: "masto-web-1a2b3c4d5e6f.herokuapp.com", kind: "heroku", cname: null, status: "none" },
      { hostname: "social.example.com", kind: "custom", cname: "tall-owl-0a1b2c.herokudns.com", status: "succeeded" },
    ],
  },
  {
    app: "masto-streaming",
    addons: [],
    domains: [{ hostname: "streaming.social.example.com", kind: "custom", cname: "quiet-elk-3d4e5f.herokudns.com", status: "succeeded" }],
  },
];

describe("herokuReads", () => {
  it("are the CLI's read-only listings, with names only", () => {
    expect(herokuReads.addons("masto-web")).toBe("ferry --json heroku addons --app masto-web");
    expect(herokuReads.domains("masto-web")).toBe("ferry --json heroku domains --app masto-web");
  });
});

describe("parsing the listings", () => {
  it("reads what `ferry --json heroku addons|domains` prints", () => {
    const addons = JSON.stringify({ app: "a-app", addons: [{ name: "pg-1", service: "heroku-postgresql", plan: "heroku-postgresql:mini", state: "provisioned", configVars: ["DATABASE_URL"], extra: 1 }] });
    expect(parseAddons(addons, "a-app")).toEqual([{ name: "pg-1", service: "heroku-postgresql", plan: "heroku-postgresql:mini", state: "provisioned", configVars: ["DATABASE_URL"] }]);
    const domains = JSON.stringify({ app: "a-app", domains: [{ hostname: "a-app.herokuapp.com", kind: "heroku", cname: null, status: "none" }, { hostname: "x.example", kind: "custom", cname: "y.herokudns.com", status: "succeeded" }] });
    expect(parseDomains(domains, "a-app").map((d) => [d.hostname, d.cname])).toEqual([["a-app.herokuapp.com", null], ["x.example", "y.herokudns.com"]]);
    expect(parseAddons(JSON.stringify({ app: "a-app", addons: [] }), "a-app")).toEqual([]);
  });

  it("refuses output that is not the listing of that app", () => {
    expect(() => parseAddons("ferry: missing HEROKU_API_KEY", "a-app")).toThrow(/`ferry heroku addons --app a-app` did not print JSON/);
    expect(() => parseAddons(JSON.stringify({ app: "other", addons: [] }), "a-app")).toThrow(/answered for app "other"/);
    expect(() => parseDomains(JSON.stringify({ app: "a-app" }), "a-app")).toThrow(/printed no "domains" list/);
    expect(() => parseAddons(JSON.stringify({ app: "a-app", addons: [{ name: "pg-1" }] }), "a-app")).toThrow(/entry 0 lacks/);
    expect(() => parseDomains(JSON.stringify({ app: "a-app", domains: [{ hostname: "x", kind: "other", cname: null, status: "" }] }), "a-app")).toThrow(/entry 0 lacks/);
  });
});

describe("checkInventory", () => {
  it("passes when Heroku lists every configured add-on and hostname", () => {
    expect(checkInventory(source, inventory())).toEqual({ errors: [], warnings: [] });
    expect(() => assertInventory(source, inventory())).not.toThrow();
  });

  it("fails on a hostname that is not a domain of its app, naming the key", () => {
    const inv = inventory();
    inv[1].domains = [];
    expect(checkInventory(source, inv).errors).toEqual([
      'ferry:source.apps[1].hostnames[0]: "streaming.social.example.com" is not a domain of Heroku app masto-streaming (Heroku lists: nothing); add it with `heroku domains:add` or fix the name',
    ]);
  });

  it("fails on an add-on Heroku does not list on the store's app, or one already deprovisioned", () => {
    const inv = inventory();
    inv[0].addons[0] = { ...inv[0].addons[0], name: "postgresql-other-99999" };
    inv[0].addons[1] = { ...inv[0].addons[1], state: "deprovisioned" };
    expect(checkInventory(source, inv).errors).toEqual([
      'ferry:source.postgres.addon: "postgresql-curved-12345" is not an add-on of Heroku app masto-web (Heroku lists: postgresql-other-99999, redis-rigid-67890)',
      'ferry:source.redis.addon: "redis-rigid-67890" on Heroku app masto-web is deprovisioned',
    ]);
    expect(() => assertInventory(source, inv)).toThrow(/^the Heroku source does not match ferry:source:\n {2}ferry:source.postgres.addon: .*\n {2}ferry:source.redis.addon: /);
  });

  it("fails on an app that was not read", () => {
    expect(checkInventory(source, inventory().slice(0, 1)).errors).toEqual(["ferry:source.apps[1].name: Heroku app masto-streaming was not read"]);
  });

  it("takes the var the configured add-on owns (the cutover moves its attachment), warns when another add-on owns it", () => {
    const owned = checkInventory({ ...source, redis: { ...source.redis!, configVar: "REDIS_URL" }, postgres: { ...source.postgres!, configVar: "DATABASE_URL" } }, inventory());
    expect(owned).toEqual({ errors: [], warnings: [] });
    const crossed = checkInventory({ ...source, postgres: { ...source.postgres!, configVar: "REDIS_URL" } }, inventory());
    expect(crossed.warnings).toEqual([
      "ferry:source.postgres.configVar: REDIS_URL on masto-web belongs to add-on redis-rigid-67890, not postgresql-curved-12345; the cutover re-attaches redis-rigid-67890 as FERRY_SOURCE_* to repoint it",
    ]);
  });
});

describe("herokuOrigin", () => {
  it("prefers the configured origin, then the herokuapp.com domain Heroku lists, then <name>.herokuapp.com", () => {
    const [web, streaming] = source.apps;
    expect(herokuOrigin({ ...web, origin: "origin.example.com" }, inventory()[0])).toBe("origin.example.com");
    expect(herokuOrigin(web, inventory()[0])).toBe("masto-web-1a2b3c4d5e6f.herokuapp.com");
    expect(herokuOrigin(streaming, inventory()[1])).toBe("masto-streaming.herokuapp.com");
    expect(herokuOrigin(streaming, undefined)).toBe("masto-streaming.herokuapp.com");
  });
});
