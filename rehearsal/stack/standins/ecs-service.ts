// An ECS service on Fargate, as the rehearsal stands it in: its tasks, their start, their
// place in the target group, and its rolling deployments. The rules, from the Amazon ECS
// Developer Guide:
// - a task is provisioned first (PROVISIONING, PENDING: the network interface, the image
//   pull), then its containers start and it is registered in its target groups
//   (ACTIVATING) (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html).
//   No figure for that time is published; the rehearsal takes FARGATE_START_SECONDS;
// - a rolling update with minimumHealthyPercent 100 and maximumPercent 200 starts the new
//   tasks beside the old ones, and stops an old task only once new ones are healthy: in
//   the target group for a service behind a load balancer, running otherwise
//   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html);
// - a stopping task is deregistered from its target group and drained for the
//   deregistration delay before it is stopped (same page);
// - ECS ignores the load balancer's verdict on a task for healthCheckGracePeriodSeconds
//   after it starts; after that an unhealthy task is stopped and replaced;
// - the deployment circuit breaker fails a deployment after
//   min(200, max(3, ceil(0.5 × desiredCount))) tasks failed to start or to become healthy
//   (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeploymentCircuitBreaker.html),
//   and with rollback returns the service to its last completed deployment: here the old
//   tasks, which were never stopped. The provider's `waitForSteadyState` then reports
//   success, the service running the old task definition while the state names the new
//   one (https://github.com/hashicorp/terraform-provider-aws/issues/20858,
//   https://github.com/terraform-aws-modules/terraform-aws-ecs/issues/325);
// - a task whose essential container exits stops, and the service scheduler starts
//   another to keep the desired count (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html:
//   "If a task in a service stops, the task is restarted"): a Sidekiq stopped through
//   Redis (TERM, as ferry does to wake the workers it quieted) comes back this way.
import type { AppProcess } from "../../app-process";
import type { TargetGroupHealth } from "./target-group";

/** Fargate's provisioning of a task before its containers run (assumed: AWS publishes no figure). */
export const FARGATE_START_SECONDS = 30;

export interface EcsTiming {
  /** PROVISIONING + PENDING: before the task's process starts. */
  startDelayMs: number;
  /** healthCheckGracePeriodSeconds. */
  gracePeriodMs: number;
}

export interface EcsTask {
  definition: string;
  process: AppProcess;
  /** host:port in the target group, for a service behind a load balancer. */
  target?: string;
  startedAt: number;
}

export interface DeploymentOutcome {
  definition: string;
  /** The circuit breaker failed the deployment and the service went back to `runningDefinition`. */
  rolledBack: boolean;
  runningDefinition?: string;
  failedTasks: number;
}

export interface EcsServiceOptions {
  name: string;
  /** Start one task's process of a task definition (its containers). */
  launch(definition: string): Promise<AppProcess>;
  targetGroup?: TargetGroupHealth;
  timing: EcsTiming;
  log(line: string): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The circuit breaker's threshold for a desired count. */
export function circuitBreakerThreshold(desiredCount: number): number {
  return Math.min(200, Math.max(3, Math.ceil(0.5 * desiredCount)));
}

export class EcsService {
  private tasks: EcsTask[] = [];
  /** The task definition of the last completed deployment. */
  private completed?: string;
  /** Stopped or killed: the scheduler starts nothing more. */
  private ended = false;

  constructor(private readonly opts: EcsServiceOptions) {}

  running(): EcsTask[] {
    return [...this.tasks];
  }

  get runningDefinition(): string | undefined {
    return this.completed;
  }

  /**
   * Deploy `definition` at `desiredCount` tasks: a new definition rolls (new tasks first,
   * old ones drained once the new are healthy); the same one only scales.
   */
  async deploy(definition: string, desiredCount: number): Promise<DeploymentOutcome> {
    if (definition === this.completed) {
      await this.scale(definition, desiredCount);
      return { definition, rolledBack: false, runningDefinition: definition, failedTasks: 0 };
    }
    const old = this.tasks;
    this.opts.log(`      ECS ${this.opts.name}: deployment of ${definition.split("/").pop()}: ${desiredCount} new task(s) beside ${old.length} running`);
    const result = await this.startHealthy(definition, desiredCount);
    if (!result.ok) {
      this.opts.log(`      ECS ${this.opts.name}: the circuit breaker failed the deployment after ${result.failed} task(s) failed; ${this.completed ? `rolled back to ${this.completed.split("/").pop()}` : "no completed deployment to roll back to"}`);
      await Promise.all(result.tasks.map((t) => this.retire(t)));
      if (!this.completed) throw new Error(`${this.opts.name}: ECS deployment failed: the circuit breaker stopped it after ${result.failed} task(s) failed to start or to pass their health checks, and the service has no completed deployment to return to`);
      return { definition, rolledBack: true, runningDefinition: this.completed, failedTasks: result.failed };
    }
    this.adopt(result.tasks);
    await Promise.all(old.map((t) => this.retire(t)));
    this.completed = definition;
    return { definition, rolledBack: false, runningDefinition: definition, failedTasks: result.failed };
  }

  /** Stop every task at once, without draining (the rehearsal is over). */
  async kill(): Promise<void> {
    this.ended = true;
    const tasks = this.tasks;
    this.tasks = [];
    await Promise.all(tasks.map((t) => t.process.stop()));
  }

  /** Stop every task (the service deleted, or scaled to zero). */
  async stop(): Promise<void> {
    this.ended = true;
    await Promise.all(this.tasks.map((t) => this.retire(t)));
  }

  private async scale(definition: string, desiredCount: number): Promise<void> {
    if (this.tasks.length > desiredCount) {
      await Promise.all(this.tasks.slice(desiredCount).map((t) => this.retire(t)));
      return;
    }
    if (this.tasks.length === desiredCount) return;
    const result = await this.startHealthy(definition, desiredCount - this.tasks.length);
    this.adopt(result.tasks);
  }

  /** Tasks of the service from now on, each replaced if it stops on its own. */
  private adopt(tasks: EcsTask[]): void {
    // A new list: a deployment still holds the old one, to retire exactly those.
    this.tasks = [...this.tasks, ...tasks];
    for (const task of tasks) void task.process.exited.then((how) => this.replaceStopped(task, how));
  }

  /** The service scheduler: a task that stopped on its own (not retired) gives way to a new one of the running definition. */
  private async replaceStopped(task: EcsTask, how: { code: number | null; signal: NodeJS.Signals | null }): Promise<void> {
    if (this.ended || !this.tasks.includes(task)) return;
    this.tasks = this.tasks.filter((t) => t !== task);
    this.opts.log(`      ECS ${this.opts.name}: a task stopped (essential container exited, ${how.signal ?? `code ${how.code}`}); the service scheduler starts another`);
    if (this.opts.targetGroup && task.target) await this.opts.targetGroup.deregister(task.target);
    const result = await this.startHealthy(this.completed ?? task.definition, 1);
    if (this.ended) await Promise.all(result.tasks.map((t) => t.process.stop()));
    else this.adopt(result.tasks);
  }

  /**
   * Start `count` tasks and wait until each is healthy, replacing failed ones; once the
   * circuit breaker trips, the tasks still starting are given up with the rest.
   */
  private async startHealthy(definition: string, count: number): Promise<{ ok: boolean; tasks: EcsTask[]; failed: number }> {
    const threshold = circuitBreakerThreshold(count);
    let failed = 0;
    let tripped = false;
    const healthy: EcsTask[] = [];
    const starting: EcsTask[] = [];
    const one = async (): Promise<void> => {
      while (!tripped) {
        const task = await this.startTask(definition).catch((e: Error) => {
          this.opts.log(`      ECS ${this.opts.name}: a task did not start: ${e.message}`);
          return undefined;
        });
        if (task) {
          starting.push(task);
          if (await this.becomesHealthy(task, () => tripped)) {
            starting.splice(starting.indexOf(task), 1);
            healthy.push(task);
            return;
          }
          if (tripped) return;
          starting.splice(starting.indexOf(task), 1);
        }
        // A failure counts when ECS stops the task, before it is drained.
        if (++failed >= threshold) tripped = true;
        if (task) await this.retire(task);
      }
    };
    await Promise.all(Array.from({ length: count }, one));
    return { ok: !tripped, tasks: [...healthy, ...starting], failed };
  }

  private async startTask(definition: string): Promise<EcsTask> {
    await sleep(this.opts.timing.startDelayMs);
    const process = await this.opts.launch(definition);
    const task: EcsTask = { definition, process, startedAt: Date.now() };
    if (this.opts.targetGroup) {
      task.target = `127.0.0.1:${process.port}`;
      this.opts.targetGroup.register(task.target);
    }
    return task;
  }

  /**
   * Healthy in the target group (or running, without one). False once it is unhealthy
   * after the grace period, or its process exited: ECS stops it and counts a failure.
   */
  private async becomesHealthy(task: EcsTask, givenUp: () => boolean): Promise<boolean> {
    const tg = this.opts.targetGroup;
    for (;;) {
      if (!task.process.running() || givenUp()) return false;
      if (!tg || !task.target) return true;
      const state = tg.state(task.target);
      if (state === "healthy") return true;
      if (state === "unhealthy" && Date.now() - task.startedAt >= this.opts.timing.gracePeriodMs) return false;
      await Promise.race([tg.nextChange(), sleep(Math.max(200, tg.settings.intervalMs))]);
    }
  }

  /** Deregister (and drain), then stop. */
  private async retire(task: EcsTask): Promise<void> {
    this.tasks = this.tasks.filter((t) => t !== task);
    if (this.opts.targetGroup && task.target) await this.opts.targetGroup.deregister(task.target);
    await task.process.stop();
  }
}
