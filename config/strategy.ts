// Which components a source has and how each one can be moved, from what the source allows
// (FACTS.md): Heroku Postgres grants no REPLICATION role, so it is dumped behind the fence
// or captured by trigger (`capture`: what its owner may install); Heroku Redis and any
// Redis going to ElastiCache can only be copied client-side; a self-managed Redis can be
// REPLICAOF'd by a Redis we run ourselves.
import type { Component, FerryConfig, SourceConfig } from "./schema";

export type PostgresStrategy = "dump" | "logical" | "physical" | "capture";
export type RedisMode = "replicaof" | "copy";

/** The components this source actually has, in the order they usually move. */
export function componentsOf(source: SourceConfig): Component[] {
  if (source.kind === "heroku") {
    return [
      ...(source.postgres ? (["postgres"] as const) : []),
      ...(source.redis ? (["redis"] as const) : []),
      "app",
    ];
  }
  const order: Component[] = ["postgres", "redis", "app"];
  return order.filter((c) => source.services.includes(c));
}

export function postgresStrategy(source: SourceConfig): PostgresStrategy {
  return source.kind === "heroku" ? (source.postgres?.strategy ?? "dump") : source.postgres.strategy;
}

export function redisMode(config: Pick<FerryConfig, "source" | "target">): RedisMode {
  const selfManagedSource = config.source.kind === "vultr";
  const selfRunTarget = config.target.redis.kind === "ec2";
  return selfManagedSource && selfRunTarget ? "replicaof" : "copy";
}

/** Whether Sidekiq queues must be drained on the source before Redis moves. */
export function sidekiqDrain(source: SourceConfig): boolean {
  return source.kind === "heroku" ? (source.redis?.sidekiq ?? false) : source.redis.sidekiq;
}
