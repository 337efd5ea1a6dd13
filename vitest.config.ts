import { defineConfig } from "vitest/config";

// Two cores: real PostgreSQL/Redis/nginx servers start per test file, so keep
// at most two files running at once and give server-backed tests room.
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    exclude: ["tests/faults/**", "node_modules/**"],
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
