// Resource options for anything that reads a source data store. Until decommission the
// source is the only complete copy of the data: protect it from `pulumi destroy` and keep
// it on delete. Pure, because resource options never reach Pulumi's mocks.
import type * as pulumi from "@pulumi/pulumi";
import { atLeast, Stage } from "../../config";

export function sourceResourceOptions(stage: Stage): Pick<pulumi.CustomResourceOptions, "protect" | "retainOnDelete"> {
  const released = atLeast(stage, "decommission");
  return { protect: !released, retainOnDelete: !released };
}
