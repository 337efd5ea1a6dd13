// The Vultr box being moved off. It is only read (`Instance.get`): Pulumi never updates
// or deletes it, and ferry leaves deleting it to the operator after decommission.
import * as vultr from "@ediri/vultr";
import * as pulumi from "@pulumi/pulumi";
import type { Stage, VultrSource } from "../../config";
import { sourceResourceOptions } from "./options";

export class VultrBox extends pulumi.ComponentResource {
  /** Public address: SSH for the proxy step, /32 allowlists on the target side. */
  readonly address: pulumi.Output<string>;
  readonly label: pulumi.Output<string>;

  constructor(name: string, args: { source: VultrSource; stage: Stage }, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:source:VultrBox", name, {}, opts);
    const instance = vultr.Instance.get(`${name}-instance`, args.source.instanceId, undefined, {
      parent: this,
      ...sourceResourceOptions(args.stage),
    });
    this.address = instance.mainIp;
    this.label = instance.label;
    this.registerOutputs({ address: this.address });
  }
}
