// The target network: a VPC with a public and a private subnet per zone. Data stores and
// app instances live in private subnets; only the load balancer, the NAT gateway and the
// optional runner sit in public ones.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { subnetCidrs } from "./subnets";

export interface NetworkArgs {
  region: string;
  cidr: string;
  zones: string[];
  tags: Record<string, string>;
}

export class Network extends pulumi.ComponentResource {
  readonly vpc: aws.ec2.Vpc;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  /** The private subnets' routes: a peered network's ranges are added here. */
  readonly privateRouteTableId: pulumi.Output<string>;
  /** Where private-subnet traffic (the RDS subscription, REPLICAOF) comes from: allowlist it on the source. */
  readonly natPublicIp: pulumi.Output<string>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Network", name, {}, opts);
    const child = { parent: this };
    const tags = (suffix: string) => ({ ...args.tags, Name: `${name}-${suffix}` });

    this.vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: args.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags("vpc") }, child);
    const cidrs = subnetCidrs(args.cidr, args.zones.length * 2);
    const subnet = (kind: "public" | "private", zone: string, i: number) =>
      new aws.ec2.Subnet(`${name}-${kind}-${i}`, {
        vpcId: this.vpc.id,
        availabilityZone: zone,
        cidrBlock: cidrs[kind === "public" ? i : args.zones.length + i],
        mapPublicIpOnLaunch: false,
        tags: tags(`${kind}-${zone}`),
      }, child);
    const publicSubnets = args.zones.map((z, i) => subnet("public", z, i));
    const privateSubnets = args.zones.map((z, i) => subnet("private", z, i));

    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: this.vpc.id, tags: tags("igw") }, child);
    const publicRoutes = new aws.ec2.RouteTable(`${name}-public`, {
      vpcId: this.vpc.id,
      routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
      tags: tags("public"),
    }, child);

    // One NAT gateway: app instances federate and call APIs outbound; a second one per
    // zone doubles the cost for an outage the load balancer already routes around.
    const natIp = new aws.ec2.Eip(`${name}-nat`, { domain: "vpc", tags: tags("nat") }, child);
    const nat = new aws.ec2.NatGateway(`${name}-nat`, { allocationId: natIp.id, subnetId: publicSubnets[0].id, tags: tags("nat") }, { parent: this, dependsOn: [igw] });
    const privateRoutes = new aws.ec2.RouteTable(`${name}-private`, {
      vpcId: this.vpc.id,
      routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
      tags: tags("private"),
    }, child);

    publicSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: s.id, routeTableId: publicRoutes.id }, child));
    privateSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: s.id, routeTableId: privateRoutes.id }, child));

    // Backups and assets go to S3 without paying NAT traffic.
    new aws.ec2.VpcEndpoint(`${name}-s3`, {
      vpcId: this.vpc.id,
      serviceName: `com.amazonaws.${args.region}.s3`,
      vpcEndpointType: "Gateway",
      routeTableIds: [privateRoutes.id, publicRoutes.id],
      tags: tags("s3"),
    }, child);

    this.natPublicIp = natIp.publicIp;
    this.publicSubnetIds = publicSubnets.map((s) => s.id);
    this.privateSubnetIds = privateSubnets.map((s) => s.id);
    this.privateRouteTableId = privateRoutes.id;
    this.registerOutputs({ vpcId: this.vpc.id });
  }
}
