// ferry's policy pack: `pulumi preview --policy-pack policy` (and the PR workflow's
// `policyPacks: policy`). Every policy is mandatory: a violation stops the deployment.
import { PolicyPack } from "@pulumi/policy";
import { dnsOnlyAtCutover } from "./dns-cutover";
import { noOpenDataPorts } from "./open-ports";
import { rdsSafe } from "./rds-safe";
import { sourceProtected } from "./source-protected";
import { storeAuth, storeTls } from "./store-access";

new PolicyPack("ferry", {
  enforcementLevel: "mandatory",
  policies: [sourceProtected, rdsSafe, noOpenDataPorts, dnsOnlyAtCutover, storeTls, storeAuth],
});
