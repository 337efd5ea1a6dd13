// A Heroku Private Space peered with the stack's VPC (ferry:source.access kind:
// private-space): the request goes from this VPC to the space's, Heroku's side accepts it
// (`heroku spaces:peerings:accept PCX_ID --space SPACE`), and the private subnets route the
// space's dyno ranges through it, so dynos reach RDS and Redis at their private addresses.
// https://devcenter.heroku.com/articles/private-space-peering
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface SpacePeeringArgs {
  vpcId: pulumi.Input<string>;
  /** Where the stores' replies leave from: the private subnets' route table. */
  routeTableIds: pulumi.Input<string>[];
  peering: { accountId: string; vpcId: string; region?: string; spaceCidrs: string[] };
  tags: Record<string, string>;
}

export class SpacePeering extends pulumi.ComponentResource {
  readonly connection: aws.ec2.VpcPeeringConnection;
  /** The id Heroku's side accepts (`heroku spaces:peerings:accept`). */
  readonly connectionId: pulumi.Output<string>;

  constructor(name: string, args: SpacePeeringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:SpacePeering", name, {}, opts);
    const child = { parent: this };
    // Another account's VPC: only its owner can accept, so no autoAccept here.
    this.connection = new aws.ec2.VpcPeeringConnection(`${name}-pcx`, {
      vpcId: args.vpcId,
      peerOwnerId: args.peering.accountId,
      peerVpcId: args.peering.vpcId,
      ...(args.peering.region ? { peerRegion: args.peering.region } : {}),
      tags: { ...args.tags, Name: `${name}-heroku-space` },
    }, child);
    args.routeTableIds.forEach((routeTableId, t) => args.peering.spaceCidrs.forEach((cidr, i) =>
      new aws.ec2.Route(`${name}-route-${t}-${i}`, { routeTableId, destinationCidrBlock: cidr, vpcPeeringConnectionId: this.connection.id }, child)));
    this.connectionId = this.connection.id;
    this.registerOutputs({ connectionId: this.connectionId });
  }
}
