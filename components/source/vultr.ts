// The Vultr box being moved off. It is only read (`Instance.get`): Pulumi never updates
// or deletes it, and ferry leaves deleting it to the operator after decommission.
// Nothing else is declared here: the policy trusts a source box under this component.
import * as vultr from "@ediri/vultr";
import * as pulumi from "@pulumi/pulumi";
import type { Stage, VultrSourceConfig } from "../../config";

export class VultrBox extends pulumi.ComponentResource {
  /** Public address: SSH for the proxy step, /32 allowlists on the target side. */
  readonly address: pulumi.Output<string>;
  readonly label: pulumi.Output<string>;

  constructor(name: string, args: { source: VultrSourceConfig; stage: Stage }, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:source:VultrBox", name, {}, opts);
    // No protect/retainOnDelete: the engine does not record them on a read, which it
    // never deletes anyway (policy/source-protected.ts recognises the read by this parent).
    const instance = vultr.Instance.get(`${name}-instance`, args.source.instanceId, undefined, { parent: this });
    this.address = instance.mainIp;
    this.label = instance.label;
    this.registerOutputs({ address: this.address });
  }
}
