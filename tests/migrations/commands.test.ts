// The command lines the stages store in state, pool weights and DNS content: pure.
import { describe, expect, it } from "vitest";
import { box, heroku, pg, redisSteps, stackSteps, traffic, urlIdentity } from "../../migrations/commands";
import { poolWeights } from "../../migrations/proxy";
import { recordFor, recordOptions } from "../../migrations/dns";

describe("ferry command lines", () => {
  it("follow the CLI contract and carry no URL or key", () => {
    expect(pg.cutover("logical", 204800, 300)).toBe("ferry --json pg cutover --strategy logical --max-lag-bytes 204800 --timeout 300");
    expect(redisSteps(false).drainSidekiq(120)).toBe("ferry --json redis drain --sidekiq --timeout 120");
    expect(stackSteps(false).cutover({ strategy: "physical", mode: "replicaof", fence: "acl", maxLagBytes: 204800, timeoutSeconds: 300, drainSidekiq: false }))
      .toBe("ferry --json cutover --strategy physical --strategy replicaof --max-lag-bytes 204800 --timeout 300");
    expect(stackSteps(true).cutover({ strategy: "dump", mode: "copy", fence: "dynos-stopped", maxLagBytes: 0, timeoutSeconds: 60, drainSidekiq: true }))
      .toBe("ferry --json cutover --strategy dump --strategy copy --fence dynos-stopped --max-lag-bytes 0 --timeout 60 --sidekiq --tls-insecure");
    expect(redisSteps(true).cutover("copy", "dynos-stopped")).toBe("ferry --json redis cutover --strategy copy --fence dynos-stopped --tls-insecure");
    expect(redisSteps(true).replicate("copy")).toBe("ferry --json redis replicate --strategy copy --tls-insecure");
    expect(heroku.configFromEnv("masto-web", "DATABASE_URL", "FERRY_TARGET_URL")).toBe("ferry --json heroku repoint --app masto-web --var DATABASE_URL --from-env FERRY_TARGET_URL");
    expect(heroku.repointRestore("masto-web", "DATABASE_URL")).toBe("ferry --json heroku repoint --app masto-web --var DATABASE_URL --restore");
    expect(heroku.repointToAddon("masto-web", "DATABASE_URL", "postgresql-curved-12345")).toBe("ferry --json heroku repoint --app masto-web --var DATABASE_URL --to-addon postgresql-curved-12345");
    expect(heroku.scale("masto-web", { web: 0, worker: 0 })).toBe("ferry --json heroku scale --app masto-web web=0 worker=0");
    expect(traffic.health("http://lb.example/health", 5, 2)).toBe("ferry --json health --url http://lb.example/health --times 5 --interval 2");
  });

  it("quote what a shell would otherwise interpret", () => {
    const site = { confFile: "/etc/nginx/sites-enabled/mastodon", listen: ["80"], sslListen: ["443", "[::]:443"], sslCertificate: "/etc/ssl/a b.pem", sslCertificateKey: "/etc/ssl/k.pem" };
    const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoxHostKeyForTestsOnly0000000000000000000";
    const apply = traffic.proxyApply({ ssh: "deploy@198.51.100.1:2222", sudo: true, hostKey }, { origin: "https://lb", serverName: "a.example b.example", originServerName: "a.example", site });
    expect(apply).toBe(
      `ferry --json proxy apply --host deploy@198.51.100.1:2222 --ssh-key-env FERRY_SSH_KEY --host-key '${hostKey}' --sudo --conf-file /etc/nginx/sites-enabled/mastodon --origin https://lb ` +
      "--origin-server-name a.example --server-name 'a.example b.example' --listen 80 --ssl-listen 443 --ssl-listen '[::]:443' --ssl-certificate '/etc/ssl/a b.pem' --ssl-certificate-key /etc/ssl/k.pem",
    );
    expect(traffic.proxyRevert({ ssh: "root@198.51.100.1:22", sudo: false, hostKey }, site)).toBe(`ferry --json proxy revert --host root@198.51.100.1:22 --ssh-key-env FERRY_SSH_KEY --host-key '${hostKey}' --conf-file /etc/nginx/sites-enabled/mastodon`);
    expect(box.units({ ssh: "deploy@198.51.100.1:22", sudo: true, hostKey }, "start", ["mastodon-web", "x;reboot"])).toBe(`ferry --json box units start --host deploy@198.51.100.1:22 --ssh-key-env FERRY_SSH_KEY --host-key '${hostKey}' --sudo --unit mastodon-web --unit 'x;reboot'`);
  });

  it("never lets the old box forward users' traffic in plaintext", () => {
    const site = { confFile: "/x", listen: [], sslListen: ["443"], sslCertificate: "/c", sslCertificateKey: "/k" };
    expect(() => traffic.proxyApply({ ssh: "root@h:22", sudo: false, hostKey: "ssh-ed25519 AAAA" }, { origin: "http://lb", serverName: "a", originServerName: "a", site })).toThrow(/only forward to an https:\/\/ origin/);
  });

  it("urlIdentity drops the password but keeps what identifies the source", () => {
    expect(urlIdentity("postgres://app:s3cret@db.example:5432/app?sslmode=require")).toBe("postgres://app@db.example:5432/app");
    expect(urlIdentity("rediss://:s3cret@cache.example:6380/0")).toBe("rediss://cache.example:6380/0");
  });
});

describe("poolWeights", () => {
  it("splits by trafficPercent and always sums to 1", () => {
    expect(poolWeights(0)).toEqual({ source: 1, target: 0 });
    expect(poolWeights(30)).toEqual({ source: 0.7, target: 0.3 });
    expect(poolWeights(100)).toEqual({ source: 0, target: 1 });
    for (let p = 0; p <= 100; p += 7) {
      const w = poolWeights(p);
      expect(w.source + w.target).toBeCloseTo(1, 10);
    }
  });
});

describe("recordFor / recordOptions", () => {
  const live = { id: "0".repeat(32), type: "CNAME" as const, content: "tall-owl-0a1b2c.herokudns.com", proxied: false, ttl: 300, comment: "heroku" };
  const adopted = { name: "social.example", process: "web", record: live };
  it("adopts the record exactly as it is live, then points the same record at the load balancer", () => {
    expect(recordFor(adopted, false, "lb.example")).toEqual({ type: "CNAME", content: live.content, proxied: false, ttl: 300, comment: "heroku" });
    expect(recordFor(adopted, true, "lb.example")).toEqual({ type: "CNAME", content: "lb.example", proxied: true, ttl: 1, comment: "ferry: cut over to AWS" });
  });
  it("imports the live record, keeps it on delete, never deletes it before a replacement", () => {
    // The same at every stage: once in state, the engine ignores the import.
    expect(recordOptions(adopted, "z".repeat(32))).toEqual({ import: `${"z".repeat(32)}/${live.id}`, retainOnDelete: true });
  });
  it("declares no record before cutover for a hostname ferry did not adopt", () => {
    expect(recordFor({ name: "new.example", process: "web" }, false, "lb.example")).toBeUndefined();
    expect(recordOptions({ name: "new.example", process: "web" }, "z".repeat(32))).toEqual({});
  });
});
