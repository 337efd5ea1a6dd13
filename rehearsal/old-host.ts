// The Vultr box's own nginx ("the old host"): it serves the site to the source app
// from a site file that nginx.conf includes, laid out like /etc/nginx/sites-enabled,
// so `ferry proxy apply --host local` can swap that file for its proxy block (story
// 001: "old nginx proxies to the new box") and `ferry proxy revert` can put it back.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nginxHttpPaths, nginxMainContext, startNginx, tempDir, LocalNginx } from "./servers";

export interface OldHost {
  port: number;
  nginx: LocalNginx;
  siteFile: string;
  stateDir: string;
  /** The flags `ferry proxy apply|revert --host local` need to find this nginx. */
  layoutArgs(): string[];
  stop(): Promise<void>;
}

export function renderSite(listenPort: number, appPort: number): string {
  return `upstream mastodon_web {
  server 127.0.0.1:${appPort};
  keepalive 16;
}
server {
  listen 127.0.0.1:${listenPort};
  server_name _;
  location / {
    proxy_pass http://mastodon_web;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  }
}
`;
}

export async function startOldHost(listenPort: number, appPort: number): Promise<OldHost> {
  const sites = tempDir("oldhost-sites");
  const stateDir = join(tempDir("oldhost-state"), "ferry");
  mkdirSync(stateDir, { recursive: true });
  const siteFile = join(sites, "mastodon.conf");
  writeFileSync(siteFile, renderSite(listenPort, appPort));
  const nginx = await startNginx(
    (prefix) => `${nginxMainContext(prefix)}\nevents { worker_connections 1024; }\nhttp {\n${nginxHttpPaths(prefix)}\ninclude ${sites}/*.conf;\n}\n`,
    listenPort,
  );
  return {
    port: listenPort,
    nginx,
    siteFile,
    stateDir,
    layoutArgs: () => ["--host", "local", "--conf-file", siteFile, "--state-dir", stateDir, "--nginx-conf", nginx.confPath, "--nginx-prefix", nginx.prefix],
    stop: () => nginx.stop(),
  };
}
