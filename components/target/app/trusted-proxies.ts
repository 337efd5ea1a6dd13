// Behind Cloudflare and the load balancer, every request reaches the app from the load
// balancer's private address, with the user's address first in X-Forwarded-For and
// Cloudflare's edge after it. A Rails app takes the rightmost untrusted address of that
// header as `request.remote_ip`; by default it trusts only private ranges, so it would
// see Cloudflare's edge as the client, and per-client rate limits (Mastodon's
// rack-attack) would throttle everyone behind one edge together. Setting the app's
// trusted proxies (Mastodon: TRUSTED_PROXY_IP, split on commas or spaces) to the VPC and
// Cloudflare's published ranges makes it see users again. The setting replaces Rails's
// defaults (ActionDispatch::RemoteIp: "trusted_proxies ... replaces the defaults"), so
// the VPC's range must be in it for the load balancer's hop.

/** Cloudflare's published ranges (cloudflare.getIpRanges; https://www.cloudflare.com/ips/). */
export interface CloudflareRanges {
  ipv4Cidrs: string[];
  ipv6Cidrs: string[];
}

/**
 * The trusted-proxy list the app gets, comma-separated: the VPC (the load balancer), a
 * box's own address (while traffic is split, the box's nginx forwards to AWS and is one
 * more hop: docs/traffic.md), then Cloudflare's ranges.
 */
export function trustedProxyList(vpcCidr: string, cloudflare: CloudflareRanges, boxAddress?: string): string {
  const box = boxAddress ? [boxAddress.includes(":") ? `${boxAddress}/128` : `${boxAddress}/32`] : [];
  return [...new Set([vpcCidr, ...box, ...cloudflare.ipv4Cidrs, ...cloudflare.ipv6Cidrs])].join(",");
}
