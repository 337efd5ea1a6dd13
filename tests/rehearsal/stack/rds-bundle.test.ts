// The RDS CA bundle the EC2 runner's user data downloads to a fixed path: rehearsals on
// one machine (CI runs several side by side) each need their own CA in it at once.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { tempDir } from "../../../rehearsal/servers";
import { installRdsBundle } from "../../../rehearsal/stack/rds-bundle";

const pem = (name: string) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(name).toString("base64")}\n-----END CERTIFICATE-----\n`;

function setUp() {
  const dir = tempDir("rds-bundle");
  const cas = ["a", "b"].map((name) => {
    const file = join(dir, `${name}.pem`);
    writeFileSync(file, pem(`rehearsal CA ${name}`));
    return file;
  });
  return { bundle: join(dir, "etc-ferry", "rds-global-bundle.pem"), cas };
}

describe("the rehearsal's RDS CA bundle", () => {
  test("two rehearsals side by side: each one's CA is in the bundle while it runs; the file goes with the last", () => {
    const { bundle, cas } = setUp();
    const removeA = installRdsBundle(cas[0], "run-a", bundle);
    const removeB = installRdsBundle(cas[1], "run-b", bundle);
    expect(readFileSync(bundle, "utf8")).toContain(pem("rehearsal CA a"));
    expect(readFileSync(bundle, "utf8")).toContain(pem("rehearsal CA b"));
    removeA();
    expect(readFileSync(bundle, "utf8")).not.toContain(pem("rehearsal CA a"));
    expect(readFileSync(bundle, "utf8")).toContain(pem("rehearsal CA b"));
    removeB();
    expect(existsSync(bundle)).toBe(false);
  });

  test("a real bundle (not a rehearsal's) is never replaced nor removed", () => {
    const { bundle, cas } = setUp();
    installRdsBundle(cas[0], "run-a", bundle)(); // creates the directory
    writeFileSync(bundle, pem("Amazon RDS Root CA"));
    expect(() => installRdsBundle(cas[1], "run-b", bundle)).toThrow(/rds-global-bundle\.pem exists: the rehearsal will not replace a real RDS bundle/);
    expect(readFileSync(bundle, "utf8")).toBe(pem("Amazon RDS Root CA"));
  });
});
