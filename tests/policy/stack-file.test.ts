import { describe, expect, it } from "vitest";
import { rawConfigFromYaml, readStackConfig } from "../../policy/stack-file";
import { stackOfUrn } from "../../policy/stack-config";
import { flagsUpTo, herokuConfig, writeStackFile } from "./stacks";

describe("stack file reader", () => {
  it("hands values over as Pulumi does and never exposes ciphertext", () => {
    const raw = rawConfigFromYaml("config:\n  ferry:cutover: true\n  ferry:hold:\n    app: proxy\n  ferry:herokuApiKey:\n    secure: v1:abc\n", "Pulumi.x.yaml");
    expect(raw).toEqual({ "ferry:cutover": "true", "ferry:hold": '{"app":"proxy"}', "ferry:herokuApiKey": "[secret]" });
  });

  it("parses a whole stack with its flags", () => {
    const config = readStackConfig(writeStackFile(herokuConfig(flagsUpTo("proxy"))));
    expect(config.stages).toMatchObject({ replicate: true, proxy: true, cutover: false });
  });

  it("fails with one line naming the file or key", () => {
    expect(() => rawConfigFromYaml("config: [", "Pulumi.bad.yaml")).toThrow(/^Pulumi\.bad\.yaml: not valid YAML/);
    expect(() => readStackConfig(writeStackFile({ ...herokuConfig(), "ferry:cutover": "true" }))).toThrow(/ferry:cutover: requires ferry:replicate and ferry:proxy/);
    expect(() => stackOfUrn("nonsense")).toThrow(/cannot tell the stack/);
    expect(stackOfUrn("urn:pulumi:prod::ferry::aws:rds/instance:Instance::db")).toBe("prod");
  });
});
