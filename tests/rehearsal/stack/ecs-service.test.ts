// The ECS and load balancer stand-ins (rehearsal/stack/standins/{target-group,ecs-service}.ts)
// with real HTTP tasks: a task takes requests only once its target group's health check
// passes; one that never passes never takes a request, and its deployment stalls until
// the circuit breaker rolls it back; a stopped task is drained first. Times are tiny
// here (the time factor the rehearsal states is for the same reason).
import { createServer, Server } from "node:http";
import { describe, expect, test } from "vitest";
import type { AppProcess } from "../../../rehearsal/app-process";
import { freePort } from "../../../rehearsal/servers";
import { circuitBreakerThreshold, EcsService } from "../../../rehearsal/stack/standins/ecs-service";
import { healthCheckOf, HealthCheckSettings, matches, TargetGroupHealth } from "../../../rehearsal/stack/standins/target-group";
import { eventually } from "../../support/eventually";

const FAST: HealthCheckSettings = { path: "/health", intervalMs: 40, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 3, matcher: "200-399", deregistrationDelayMs: 60 };

/** A task's process: an HTTP server whose /health answers `healthStatus`. */
async function fakeTask(name: string, healthStatus: number): Promise<AppProcess & { served: number; exit(code: number): Promise<void> }> {
  const port = await freePort();
  let served = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === "/health") res.statusCode = healthStatus;
    else served++;
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  let up = true;
  let exited!: (how: { code: number | null; signal: NodeJS.Signals | null }) => void;
  const exit = async (code: number | null, signal: NodeJS.Signals | null) => {
    if (!up) return;
    up = false;
    await new Promise((r) => server.close(r));
    exited({ code, signal });
  };
  return {
    port,
    name,
    exited: new Promise((r) => (exited = r)),
    running: () => up,
    stop: () => exit(null, "SIGTERM"),
    /** The process ends on its own (a Sidekiq told to stop through Redis). */
    exit: (code: number) => exit(code, null),
    get served() {
      return served;
    },
  };
}

/** A target group whose every routing change is recorded, as the load balancer renders it. */
function recordedTargetGroup(settings = FAST) {
  const routings: string[][] = [];
  const group: TargetGroupHealth = new TargetGroupHealth(settings, async () => {
    routings.push(group.routable());
  });
  return { group, routings };
}

describe("a target group's health checks", () => {
  test("a registered target takes requests only after passing a health check; one that fails never does", async () => {
    const { group, routings } = recordedTargetGroup();
    const good = await fakeTask("good", 200);
    const bad = await fakeTask("bad", 500);
    const [g, b] = [`127.0.0.1:${good.port}`, `127.0.0.1:${bad.port}`];
    group.register(g);
    group.register(b);
    expect(group.routable()).toEqual([]);
    expect(group.state(g)).toBe("initial");
    while (group.state(b) !== "unhealthy") await group.nextChange();
    expect(group.state(g)).toBe("healthy");
    expect(routings.every((r) => !r.includes(b))).toBe(true);
    expect(routings.at(-1)).toEqual([g]);
    group.close();
    await Promise.all([good.stop(), bad.stop()]);
  });

  test("only unhealthy targets: the load balancer fails open and routes to all of them", async () => {
    const { group } = recordedTargetGroup();
    const bad = await fakeTask("bad", 503);
    const b = `127.0.0.1:${bad.port}`;
    group.register(b);
    while (group.state(b) !== "unhealthy") await group.nextChange();
    expect(group.routable()).toEqual([b]);
    group.close();
    await bad.stop();
  });

  test("a deregistered target takes no new request and is gone once drained", async () => {
    const { group } = recordedTargetGroup();
    const good = await fakeTask("good", 200);
    const g = `127.0.0.1:${good.port}`;
    group.register(g);
    while (group.state(g) !== "healthy") await group.nextChange();
    const drained = group.deregister(g);
    expect(group.state(g)).toBe("draining");
    expect(group.routable()).toEqual([]);
    await drained;
    expect(group.state(g)).toBeUndefined();
    group.close();
    await good.stop();
  });

  test("the settings are the target group's declared inputs, times divided by the time factor, with ELB's defaults", () => {
    // What components/target/ingress.ts declares.
    const declared = { healthCheck: { path: "/health", matcher: "200-399", interval: 5, timeout: 4, healthyThreshold: 2, unhealthyThreshold: 3 }, deregistrationDelay: 30 };
    expect(healthCheckOf(declared, 1)).toEqual({ path: "/health", intervalMs: 5000, timeoutMs: 4000, healthyThreshold: 2, unhealthyThreshold: 3, matcher: "200-399", deregistrationDelayMs: 30_000 });
    expect(healthCheckOf(declared, 10)).toMatchObject({ intervalMs: 500, timeoutMs: 1000, deregistrationDelayMs: 3000 });
    expect(healthCheckOf({}, 1)).toEqual({ path: "/", intervalMs: 30_000, timeoutMs: 5000, healthyThreshold: 5, unhealthyThreshold: 2, matcher: "200", deregistrationDelayMs: 300_000 });
    expect([matches("200-399", 302), matches("200-399", 500), matches("200,204", 204), matches("200", 201)]).toEqual([true, false, true, false]);
  });
});

describe("an ECS service's rolling deployment", () => {
  const timing = { startDelayMs: 30, gracePeriodMs: 150 };
  const launcher = () => {
    const launched: Array<AppProcess & { served: number; definition: string; exit(code: number): Promise<void> }> = [];
    const launch = async (definition: string) => {
      const task = Object.assign(await fakeTask(`${definition}.${launched.length + 1}`, definition.startsWith("broken") ? 500 : 200), { definition });
      launched.push(task);
      return task;
    };
    return { launched, launch };
  };

  test("new tasks take requests only once healthy, the old ones serve until then and are drained after; never a moment without a target", async () => {
    const { group, routings } = recordedTargetGroup();
    const { launched, launch } = launcher();
    const service = new EcsService({ name: "web", launch, targetGroup: group, timing, log: () => undefined });
    expect(await service.deploy("web:1", 2)).toMatchObject({ rolledBack: false, runningDefinition: "web:1" });
    const first = new Set(launched.map((t) => `127.0.0.1:${t.port}`));
    routings.length = 0;
    expect(await service.deploy("web:2", 2)).toMatchObject({ rolledBack: false, runningDefinition: "web:2" });
    const second = launched.filter((t) => t.definition === "web:2").map((t) => `127.0.0.1:${t.port}`);
    expect(second).toHaveLength(2);
    // Every routing during the roll: never empty; a new task only once healthy (the old still in service until then).
    expect(routings.every((r) => r.length > 0)).toBe(true);
    const firstWithNew = routings.findIndex((r) => r.some((a) => second.includes(a)));
    expect(routings.slice(0, firstWithNew).every((r) => r.every((a) => first.has(a)))).toBe(true);
    expect(routings.at(-1)!.sort()).toEqual([...second].sort());
    expect(launched.filter((t) => t.definition === "web:1").every((t) => !t.running())).toBe(true);
    group.close();
    await service.kill();
  });

  test("a task definition whose tasks never pass: they never take a request, the roll stalls, the circuit breaker rolls back to the old tasks", async () => {
    const { group, routings } = recordedTargetGroup();
    const { launched, launch } = launcher();
    const service = new EcsService({ name: "web", launch, targetGroup: group, timing, log: () => undefined });
    await service.deploy("web:1", 2);
    const outcome = await service.deploy("broken:2", 2);
    expect(outcome).toEqual({ definition: "broken:2", rolledBack: true, runningDefinition: "web:1", failedTasks: circuitBreakerThreshold(2) });
    const broken = launched.filter((t) => t.definition === "broken:2");
    expect(broken.length).toBeGreaterThanOrEqual(3);
    expect(broken.every((t) => !t.running())).toBe(true);
    expect(routings.every((r) => r.every((a) => !broken.some((t) => a.endsWith(`:${t.port}`))))).toBe(true);
    expect(broken.reduce((n, t) => n + t.served, 0)).toBe(0);
    // The old tasks were never stopped: they still serve.
    expect(service.running().map((t) => t.definition)).toEqual(["web:1", "web:1"]);
    expect(group.routable()).toHaveLength(2);
    group.close();
    await service.kill();
  });

  test("a first deployment that never gets healthy fails the step: there is nothing to roll back to", async () => {
    const { group } = recordedTargetGroup();
    const { launch } = launcher();
    const service = new EcsService({ name: "web", launch, targetGroup: group, timing, log: () => undefined });
    await expect(service.deploy("broken:1", 1)).rejects.toThrow(/web: ECS deployment failed: the circuit breaker stopped it after 3 task\(s\) failed .* no completed deployment to return to/);
    group.close();
  });

  test("a task that stops on its own is replaced by the service scheduler, of the running definition; a retired one is not", async () => {
    const { group } = recordedTargetGroup();
    const { launched, launch } = launcher();
    const service = new EcsService({ name: "worker", launch, targetGroup: group, timing, log: () => undefined });
    await service.deploy("worker:1", 2);
    const [gone, kept] = service.running();
    await launched.find((t) => `127.0.0.1:${t.port}` === gone.target)!.exit(0);
    await eventually("a replacement task", () => service.running().length === 2 && !service.running().includes(gone), { timeoutMs: 5000 });
    expect(service.running()).toContain(kept);
    expect(service.running().map((t) => t.definition)).toEqual(["worker:1", "worker:1"]);
    expect(launched).toHaveLength(3);
    await service.kill();
    await new Promise((r) => setTimeout(r, 200));
    expect(launched).toHaveLength(3); // stopped by ECS itself: nothing replaced
    group.close();
  });

  test("the circuit breaker's threshold: half the desired count, at least 3, at most 200", () => {
    expect([1, 2, 6, 7, 10, 1000].map(circuitBreakerThreshold)).toEqual([3, 3, 3, 4, 5, 200]);
  });
});
