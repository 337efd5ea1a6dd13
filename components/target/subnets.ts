// Subnet CIDRs carved from the VPC range: pure, so the layout is tested without Pulumi.

function toInt(ip: string): number {
  return ip.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/**
 * `count` consecutive subnets, each 4 bits smaller than the VPC (a /16 gives /20s),
 * so two zones x (public + private) use a quarter of the range and leave room to grow.
 */
export function subnetCidrs(vpcCidr: string, count: number): string[] {
  const [base, bitsText] = vpcCidr.split("/");
  const bits = Number(bitsText) + 4;
  const size = 2 ** (32 - bits);
  if (count > 16) throw new Error(`cannot fit ${count} subnets in ${vpcCidr}`);
  const start = toInt(base) - (toInt(base) % 2 ** (32 - Number(bitsText)));
  return Array.from({ length: count }, (_, i) => `${toIp(start + i * size)}/${bits}`);
}
