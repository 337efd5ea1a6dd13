// The front door: a local nginx standing in for Cloudflare. Its upstream lists the
// origins with weights, so a weighted split (10% → 50% → 100%) is rehearsed exactly
// as a load balancer's pool weights would do it; each change is a graceful reload
// (old workers finish their requests), like an edge config push.
import { nginxHttpPaths, nginxMainContext, startNginx, LocalNginx } from "./servers";

export interface Origin {
  name: string;
  port: number;
  /** Share of requests, any positive integer; 0 takes the origin out of the pool. */
  weight: number;
}

export function renderFrontDoor(prefix: string, listenPort: number, origins: Origin[]): string {
  const live = origins.filter((o) => o.weight > 0);
  if (!live.length) throw new Error("the front door needs at least one origin with a weight above 0");
  for (const o of live) {
    if (!Number.isInteger(o.weight) || !Number.isInteger(o.port)) throw new Error(`origin ${o.name}: weight and port must be integers`);
  }
  return `${nginxMainContext(prefix)}
events { worker_connections 1024; }
http {
${nginxHttpPaths(prefix)}
  upstream origins {
${live.map((o) => `    server 127.0.0.1:${o.port} weight=${o.weight}; # ${o.name}`).join("\n")}
  }
  server {
    listen 127.0.0.1:${listenPort};
    # No idle keep-alive connections: a reload closes idle ones under a client about to
    # reuse them, a failure Cloudflare's edge does not cause; the figures must not show it.
    keepalive_timeout 0;
    location / {
      proxy_pass http://origins;
      proxy_http_version 1.1;
      proxy_set_header Connection "close";
      proxy_set_header Host $host;
      # A refused connection may go to the other origin; a sent POST is never replayed.
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
      proxy_read_timeout 10s;
    }
  }
}
`;
}

export interface FrontDoor {
  port: number;
  url: string;
  origins: Origin[];
  setOrigins(origins: Origin[]): Promise<void>;
  stop(): Promise<void>;
  nginx: LocalNginx;
}

export async function startFrontDoor(port: number, origins: Origin[]): Promise<FrontDoor> {
  const nginx = await startNginx((prefix) => renderFrontDoor(prefix, port, origins), port);
  const door: FrontDoor = {
    port,
    url: `http://127.0.0.1:${port}`,
    origins,
    nginx,
    setOrigins: async (next) => {
      await nginx.reload(renderFrontDoor(nginx.prefix, port, next));
      door.origins = next;
    },
    stop: () => nginx.stop(),
  };
  return door;
}

/** Weights for "percent of traffic to the target". */
export function split(source: Omit<Origin, "weight">, target: Omit<Origin, "weight">, targetPercent: number): Origin[] {
  return [
    { ...source, weight: 100 - targetPercent },
    { ...target, weight: targetPercent },
  ];
}

/**
 * `nginx -s reload` returns before the new workers take over; wait until `times`
 * answers in a row come from `name` (X-Served-By), so nothing still routes to an app
 * about to be stopped.
 */
export async function waitServedBy(url: string, name: string, times = 5, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  while (streak < times) {
    if (Date.now() > deadline) throw new Error(`the front door did not switch to ${name} within ${timeoutMs} ms`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      streak = res.headers.get("x-served-by") === name ? streak + 1 : 0;
    } catch {
      streak = 0;
    }
    if (streak < times) await new Promise((r) => setTimeout(r, 50));
  }
}
