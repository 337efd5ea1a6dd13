// An Application Load Balancer target group's health checks, as the stand-in ALB routes
// by them. The rules, from "Health checks for Application Load Balancer target groups"
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html):
// - the load balancer routes requests only to healthy targets;
// - it sends a health check to each registered target every HealthCheckIntervalSeconds,
//   each check independent, with its own timeout; a response outside the matcher's codes,
//   a timeout or a refused connection fails it;
// - "after your target is registered, it must pass one health check to be considered
//   healthy"; a healthy target that fails UnhealthyThresholdCount checks in a row is taken
//   out of service; an unhealthy one returns after HealthyThresholdCount passes in a row;
// - "if a target group contains only unhealthy registered targets, the load balancer
//   routes requests to all those targets" (fail-open); targets still in their first
//   checks (initial) or draining are not among them;
// - a deregistered target receives no new request and is drained for the target group's
//   deregistration delay before deregistration completes
//   (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay).
// Settings the target group does not declare take the documented defaults for an HTTP
// target group: interval 30 s, timeout 5 s, 5 to pass, 2 to fail, path "/", matcher 200,
// deregistration delay 300 s.
import { request } from "node:http";

export type TargetState = "initial" | "healthy" | "unhealthy" | "draining";

export interface HealthCheckSettings {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** The matcher's HTTP codes ("200", "200-399", "200,302"). */
  matcher: string;
  deregistrationDelayMs: number;
}

/**
 * The health check a target group declares (an `aws.lb.TargetGroup`'s inputs), its times
 * divided by the rehearsal's time factor. A probe's timeout is not cut below 1 s: this
 * machine is shared, and a slow answer here is not a slow task on Fargate.
 */
export function healthCheckOf(inputs: Record<string, unknown>, timeFactor: number): HealthCheckSettings {
  const hc = (inputs.healthCheck ?? {}) as { path?: string; interval?: number; timeout?: number; healthyThreshold?: number; unhealthyThreshold?: number; matcher?: string };
  const seconds = (s: number) => (s * 1000) / timeFactor;
  return {
    path: hc.path ?? "/",
    intervalMs: seconds(hc.interval ?? 30),
    timeoutMs: Math.max(seconds(hc.timeout ?? 5), Math.min((hc.timeout ?? 5) * 1000, 1000)),
    healthyThreshold: hc.healthyThreshold ?? 5,
    unhealthyThreshold: hc.unhealthyThreshold ?? 2,
    matcher: hc.matcher ?? "200",
    deregistrationDelayMs: seconds(Number(inputs.deregistrationDelay ?? 300)),
  };
}

/** Whether `status` is one of the matcher's codes ("200-399", "200,302"). */
export function matches(matcher: string, status: number): boolean {
  return matcher.split(",").some((part) => {
    const [from, to] = part.trim().split("-").map(Number);
    return to === undefined ? status === from : status >= from && status <= to;
  });
}

/** A check's result; "stalled" when this process's event loop was blocked meanwhile (the rehearsal's, not the target's). */
export type ProbeResult = "pass" | "fail" | "stalled";

/** One health check: GET the path on `target` (host:port), within the timeout. */
export function httpProbe(target: string, settings: HealthCheckSettings): Promise<ProbeResult> {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = request({ host, port, path: settings.path, method: "GET", headers: { "user-agent": "ELB-HealthChecker/2.0" } }, (res) => {
      res.resume();
      settle(matches(settings.matcher, res.statusCode ?? 0) ? "pass" : "fail");
    });
    req.on("error", () => settle("fail"));
    const timer = setTimeout(() => {
      // A timer that fires well after its time means this process's event loop was
      // blocked (the engine evaluating the program): the target was not asked in time.
      settle(Date.now() - started > settings.timeoutMs + 500 ? "stalled" : "fail");
    }, settings.timeoutMs);
    req.end();
  });
}

interface Target {
  state: TargetState;
  passes: number;
  failures: number;
  timer?: NodeJS.Timeout;
}

/** A target group's registered targets and their health, checked for real. */
export class TargetGroupHealth {
  private readonly targets = new Map<string, Target>();
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(
    readonly settings: HealthCheckSettings,
    /** Called when the targets requests may go to change (the load balancer re-renders). */
    private readonly changed: () => Promise<void>,
    private readonly probe: (target: string, settings: HealthCheckSettings) => Promise<ProbeResult> = httpProbe,
  ) {}

  /** Register a target (host:port): state initial, the first check one interval later. */
  register(target: string): void {
    this.targets.set(target, { state: "initial", passes: 0, failures: 0 });
    this.schedule(target);
  }

  state(target: string): TargetState | undefined {
    return this.targets.get(target)?.state;
  }

  /** The targets requests go to: the healthy ones, or every registered one when all are unhealthy (fail-open). */
  routable(): string[] {
    const registered = [...this.targets.entries()].filter(([, t]) => t.state !== "draining");
    const healthy = registered.filter(([, t]) => t.state === "healthy").map(([a]) => a);
    if (healthy.length) return healthy;
    const allUnhealthy = registered.length > 0 && registered.every(([, t]) => t.state === "unhealthy");
    return allUnhealthy ? registered.map(([a]) => a) : [];
  }

  /** Deregister: no new request goes to it; resolves once the deregistration delay has drained it. */
  async deregister(target: string): Promise<void> {
    const t = this.targets.get(target);
    if (!t || t.state === "draining") return;
    clearTimeout(t.timer);
    t.state = "draining";
    await this.changed();
    await new Promise((r) => setTimeout(r, this.settings.deregistrationDelayMs));
    this.targets.delete(target);
    this.wake();
  }

  /** Resolves at the next change of any target's state. */
  nextChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  close(): void {
    this.closed = true;
    for (const t of this.targets.values()) clearTimeout(t.timer);
    this.wake();
  }

  private wake(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const w of waiting) w();
  }

  private schedule(target: string): void {
    const t = this.targets.get(target);
    if (!t || this.closed) return;
    t.timer = setTimeout(() => void this.check(target), this.settings.intervalMs);
  }

  private async check(target: string): Promise<void> {
    const t = this.targets.get(target);
    if (!t || t.state === "draining" || this.closed) return;
    const result = await this.probe(target, this.settings);
    // Deregistered while the check was out: its result no longer matters.
    if (this.targets.get(target) !== t || (t.state as TargetState) === "draining") return;
    if (result !== "stalled") {
      const before = t.state;
      t.passes = result === "pass" ? t.passes + 1 : 0;
      t.failures = result === "fail" ? t.failures + 1 : 0;
      if (t.state === "initial" && t.passes >= 1) t.state = "healthy";
      else if (t.state === "unhealthy" && t.passes >= this.settings.healthyThreshold) t.state = "healthy";
      else if (t.state !== "unhealthy" && t.failures >= this.settings.unhealthyThreshold) t.state = "unhealthy";
      if (t.state !== before) {
        await this.changed();
        this.wake();
      }
    }
    this.schedule(target);
  }
}
