// The HTTP stand-ins, each an nginx on its own stand-in host: the AWS load balancer
// (listeners, host rules, one upstream per target group), Heroku's router (an app's
// domains to its web dynos) and Cloudflare's edge (each hostname to the origins its
// DNS record or load balancer names, by pool weight). Every change is `nginx -t` and a
// graceful reload, as a config push at the edge.
import { freePort, nginxHttpPaths, nginxMainContext, startNginx, LocalNginx } from "../../servers";

export interface Upstream {
  name: string;
  /** host:port servers with integer weights; empty means "no healthy target" (503). */
  servers: Array<{ address: string; weight: number }>;
  /** Reach the servers over TLS for `serverName` (SNI), verifying them against `ca` unless `verify` is false. */
  tls?: { ca: string; serverName: string; verify?: boolean };
}

export interface VirtualServer {
  listen: string;
  /** Names this server answers for; `_` is the default server of its listen address. */
  names: string[];
  /** The upstream to proxy to, or a fixed status, or a redirect (`to` may use nginx's $host and $request_uri). */
  upstream?: Upstream;
  status?: { code: number; body: string };
  redirect?: { code: number; to: string };
  /** X-Forwarded-Proto sent upstream (the load balancer: its listener's protocol). */
  forwardedProto?: string;
  /** What the client gets when the upstream cannot be reached (Cloudflare's 52x), instead of nginx's 502/504. */
  unreachable?: { code: number; body: string };
  /** Serve TLS with this certificate. */
  certificate?: { cert: string; key: string };
  /** How long the upstream may take to answer (default 15 s): Heroku's router holds a request longer while dynos boot. */
  readTimeoutSeconds?: number;
}

const safe = (name: string) => name.replace(/[^A-Za-z0-9_]/g, "_");

export function renderProxy(prefix: string, controlPort: number, servers: VirtualServer[]): string {
  const upstreams = new Map<string, Upstream>();
  for (const s of servers) if (s.upstream && s.upstream.servers.length) upstreams.set(s.upstream.name, s.upstream);
  const upstreamBlocks = [...upstreams.values()].map((u) => `  upstream ${safe(u.name)} {\n${u.servers.map((s) => `    server ${s.address} weight=${s.weight};`).join("\n")}\n  }`);
  const serverBlocks = servers.map((s) => {
    const tls = s.certificate ? ` ssl;\n    ssl_certificate ${s.certificate.cert};\n    ssl_certificate_key ${s.certificate.key}` : "";
    const def = s.names.includes("_") ? " default_server" : "";
    let body: string;
    if (s.upstream && s.upstream.servers.length) {
      const u = s.upstream;
      const scheme = u.tls ? "https" : "http";
      const verify = u.tls
        ? `\n      proxy_ssl_server_name on;\n      proxy_ssl_name ${u.tls.serverName};${u.tls.verify === false ? "\n      proxy_ssl_verify off;" : `\n      proxy_ssl_verify on;\n      proxy_ssl_trusted_certificate ${u.tls.ca};`}`
        : "";
      const proto = s.forwardedProto ? `\n      proxy_set_header X-Forwarded-Proto ${s.forwardedProto};` : "";
      const unreachable = s.unreachable ? `\n      error_page 502 504 =${s.unreachable.code} @unreachable;` : "";
      body = `location / {
      proxy_pass ${scheme}://${safe(u.name)};
      proxy_http_version 1.1;
      proxy_set_header Connection "close";
      proxy_set_header Host $host;${proto}
      proxy_next_upstream error timeout;
      # Responses pass as they come (the app's event streams), as the load balancer, the
      # router and the edge pass them.
      proxy_buffering off;
      proxy_connect_timeout 2s;
      proxy_read_timeout ${s.readTimeoutSeconds ?? 15}s;${verify}${unreachable}
    }${s.unreachable ? `\n    location @unreachable { default_type text/plain; return ${s.unreachable.code} ${JSON.stringify(s.unreachable.body)}; }` : ""}`;
    } else if (s.redirect) {
      body = `location / { return ${s.redirect.code} ${s.redirect.to}; }`;
    } else {
      const status = s.status ?? { code: 503, body: "no healthy upstream" };
      body = `location / { default_type text/plain; return ${status.code} ${JSON.stringify(status.body)}; }`;
    }
    return `  server {\n    listen ${s.listen}${def}${tls};\n    server_name ${s.names.join(" ")};\n    keepalive_timeout 0;\n    ${body}\n  }`;
  });
  return `${nginxMainContext(prefix)}
events { worker_connections 1024; }
http {
${nginxHttpPaths(prefix)}
  server_names_hash_bucket_size 128;
${upstreamBlocks.join("\n")}
  server { listen 127.0.0.1:${controlPort}; location / { return 204; } }
${serverBlocks.join("\n")}
}
`;
}

/** Calls of `fn` one at a time, in order: the engine runs steps in parallel, nginx has one config. */
export function oneAtATime(fn: () => Promise<void>): () => Promise<void> {
  let chain: Promise<void> = Promise.resolve();
  return () => {
    const next = chain.then(fn);
    chain = next.catch(() => undefined);
    return next;
  };
}

/** An nginx whose whole config is a list of virtual servers. */
export class ProxyHost {
  private constructor(private readonly nginx: LocalNginx, private readonly controlPort: number) {}

  static async start(servers: VirtualServer[]): Promise<ProxyHost> {
    const controlPort = await freePort();
    const nginx = await startNginx((prefix) => renderProxy(prefix, controlPort, servers), controlPort);
    return new ProxyHost(nginx, controlPort);
  }

  async apply(servers: VirtualServer[]): Promise<void> {
    await this.nginx.reload(renderProxy(this.nginx.prefix, this.controlPort, servers));
  }

  stop(): Promise<void> {
    return this.nginx.stop();
  }
}
