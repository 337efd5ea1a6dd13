// The site `ferry init --box` fills ferry:source.nginx from, read from `nginx -T`'s
// output: the one file serving the hostnames, its plain and TLS addresses and its
// certificate; anything the proxy could not take over whole is a reason, not a guess.
import { describe, expect, it } from "vitest";
import { siteOf } from "../../../dataplane/init/nginx-site";

const HOSTS = ["social.example", "streaming.social.example"];

/** `nginx -T` as it prints: its verdict, then each file after its header. */
const dump = (files: Record<string, string>) =>
  ["nginx: the configuration file /etc/nginx/nginx.conf syntax is ok", "nginx: configuration file /etc/nginx/nginx.conf test is successful",
    ...Object.entries(files).map(([file, text]) => `# configuration file ${file}:\n${text}\n`)].join("\n");

const MAIN = `user www-data;
events { worker_connections 768; }
stream { server { listen 5432; proxy_pass db; } }
http {
  upstream backend { server 127.0.0.1:3000; }
  server { listen 80 default_server; server_name _; return 444; }
  include /etc/nginx/sites-enabled/*;
}`;

const SITE = `# certbot's layout: a redirect on 80, the app on 443
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
server {
  listen 80;
  listen [::]:80;
  server_name social.example streaming.social.example;
  return 301 https://$host$request_uri;
}
server {
  listen 443 ssl http2;
  listen [::]:443 ssl http2;
  server_name social.example;
  ssl_certificate     "/etc/letsencrypt/live/social.example/fullchain.pem"; # managed by Certbot
  ssl_certificate_key /etc/letsencrypt/live/social.example/privkey.pem;
  location / { proxy_pass http://backend; }
}
server {
  listen 443 ssl;
  server_name streaming.social.example;
  ssl_certificate /etc/letsencrypt/live/social.example/fullchain.pem;
  ssl_certificate_key /etc/letsencrypt/live/social.example/privkey.pem;
}`;

describe("the site nginx -T shows", () => {
  it("is the file serving the hostnames, with its plain and TLS addresses and its certificate", () => {
    expect(siteOf(dump({ "/etc/nginx/nginx.conf": MAIN, "/etc/nginx/sites-enabled/mastodon": SITE }), HOSTS)).toEqual({
      site: {
        siteConf: "/etc/nginx/sites-enabled/mastodon",
        listen: ["80", "[::]:80"],
        sslListen: ["443", "[::]:443"],
        sslCertificate: "/etc/letsencrypt/live/social.example/fullchain.pem",
        sslCertificateKey: "/etc/letsencrypt/live/social.example/privkey.pem",
      },
    });
  });

  it("takes a certificate set for the whole file, and nginx's port 80 for a server without listen or port", () => {
    const site = `ssl_certificate /etc/ssl/site.pem;\nssl_certificate_key /etc/ssl/site.key;\n` +
      "server { server_name social.example; }\nserver { listen 203.0.113.9; server_name streaming.social.example; }\nserver { listen 203.0.113.9:443 ssl; server_name social.example; }";
    expect(siteOf(dump({ "/etc/nginx/conf.d/site.conf": site }), HOSTS)).toEqual({
      site: { siteConf: "/etc/nginx/conf.d/site.conf", listen: ["80", "203.0.113.9:80"], sslListen: ["203.0.113.9:443"], sslCertificate: "/etc/ssl/site.pem", sslCertificateKey: "/etc/ssl/site.key" },
    });
  });

  it.each([
    ["no block names the hostnames", { "/etc/nginx/nginx.conf": MAIN }, /^no server block names the hostnames$/],
    ["the hostnames in two files", {
      "/etc/nginx/sites-enabled/web": "server { listen 443 ssl; server_name social.example; ssl_certificate /a.pem; ssl_certificate_key /a.key; }",
      "/etc/nginx/sites-enabled/streaming": "server { listen 443 ssl; server_name streaming.social.example; ssl_certificate /a.pem; ssl_certificate_key /a.key; }",
    }, /^the hostnames are served from several files \(\/etc\/nginx\/sites-enabled\/web, \/etc\/nginx\/sites-enabled\/streaming\); the proxy replaces one$/],
    ["plain HTTP only", { "/etc/nginx/sites-enabled/mastodon": "server { listen 80; server_name social.example; }" }, /^\/etc\/nginx\/sites-enabled\/mastodon serves no TLS /],
    ["a TLS listener without its key", { "/etc/nginx/sites-enabled/mastodon": "server { listen 443 ssl; server_name social.example; ssl_certificate /a.pem; }" }, /serves no TLS/],
    ["two certificates", {
      "/etc/nginx/sites-enabled/mastodon": "server { listen 443 ssl; server_name social.example; ssl_certificate /a.pem; ssl_certificate_key /a.key; }\n" +
        "server { listen 443 ssl; server_name streaming.social.example; ssl_certificate /b.pem; ssl_certificate_key /b.key; }",
    }, /^\/etc\/nginx\/sites-enabled\/mastodon serves more than one certificate; the proxy block serves one$/],
    ["a unix socket", { "/etc/nginx/sites-enabled/mastodon": "server { listen unix:/run/app.sock; server_name social.example; }" }, /listens on unix:\/run\/app\.sock, not an \[address:\]port$/],
    ["a path the stack file cannot hold", { "/etc/nginx/sites enabled/mastodon": "server { listen 443 ssl; server_name social.example; ssl_certificate /a.pem; ssl_certificate_key /a.key; }" }, /^\/etc\/nginx\/sites enabled\/mastodon is not an absolute path/],
  ] as [string, Record<string, string>, RegExp][])("%s: a reason, no site", (_name, files, reason) => {
    const read = siteOf(dump(files), HOSTS);
    expect("reason" in read && read.reason).toMatch(reason);
  });
});
