// Heroku's router while web dynos boot (https://devcenter.heroku.com/articles/error-codes):
// a request waits for a starting dyno (H20 after the boot timeout), H14 only with no web
// dyno in the formation. Real HTTP servers stand for the dynos.
import { afterEach, describe, expect, test } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { BootQueue, ROUTER_ERRORS, WebFormation } from "../../../rehearsal/stack/standins/boot-queue";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

/** A web dyno: echoes the method, path and body it got. */
async function dyno(): Promise<number> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => res.end(`${req.method} ${req.url} ${body}`));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

async function queue(web: WebFormation, timeoutMs?: number): Promise<BootQueue> {
  const q = await BootQueue.start(web, timeoutMs);
  closers.push(() => q.stop());
  return q;
}

function send(address: string, method: string, path: string, body = ""): Promise<{ status: number; text: string }> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), method, path }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("Heroku's router while web dynos boot", { timeout: 30_000 }, () => {
  test("a request waits for the starting dyno and is served by it once it is up, body and all", async () => {
    const up: number[] = [];
    const q = await queue({ upPorts: () => up, quantity: () => 1 });
    const started = Date.now();
    const answer = send(q.address(), "POST", "/api/v1/statuses", "status=hello");
    setTimeout(() => void dyno().then((p) => up.push(p)), 700);
    expect(await answer).toEqual({ status: 200, text: "POST /api/v1/statuses status=hello" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  });

  test("a client that gives up while its request waits: the request never reaches the dyno", async () => {
    const up: number[] = [];
    const q = await queue({ upPorts: () => up, quantity: () => 1 });
    const [host, port] = q.address().split(":");
    const req = http.request({ host, port: Number(port), method: "POST", path: "/api/v1/statuses" });
    req.on("error", () => undefined);
    req.end("status=abandoned");
    await new Promise((r) => setTimeout(r, 300));
    req.destroy();
    // The queue hears the client leave on a later turn of the event loop: a dyno that comes up
    // in the same instant may still get the request, on Heroku as here. Give it that turn.
    await new Promise((r) => setTimeout(r, 200));
    let reached = 0;
    const server = http.createServer((_q, res) => {
      reached++;
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise((r) => server.close(() => r())));
    up.push((server.address() as AddressInfo).port);
    // The queue polls every 100 ms: a forwarded request would have arrived well within this.
    await new Promise((r) => setTimeout(r, 1000));
    expect(reached).toBe(0);
    expect(await send(q.address(), "GET", "/health")).toEqual({ status: 200, text: "ok" });
    expect(reached).toBe(1);
  });

  test("no web dyno in the formation: H14 at once", async () => {
    const q = await queue({ upPorts: () => [], quantity: () => 0 });
    expect(await send(q.address(), "GET", "/")).toEqual({ status: 503, text: ROUTER_ERRORS.H14 });
  });

  test("a dyno that never comes up within the boot timeout: H20", async () => {
    const q = await queue({ upPorts: () => [], quantity: () => 1 }, 400);
    const started = Date.now();
    expect(await send(q.address(), "GET", "/")).toEqual({ status: 503, text: ROUTER_ERRORS.H20 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  test("the formation scaled to 0 while a request waits: H14", async () => {
    let quantity = 1;
    const q = await queue({ upPorts: () => [], quantity: () => quantity });
    const answer = send(q.address(), "GET", "/");
    setTimeout(() => (quantity = 0), 300);
    expect(await answer).toEqual({ status: 503, text: ROUTER_ERRORS.H14 });
  });
});
