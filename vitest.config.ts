import { defineConfig } from "vitest/config";

// Two cores: real PostgreSQL/Redis/nginx servers start per test file, so keep
// at most two files running at once and give server-backed tests room.
export default defineConfig({
  test: {
    // A stray .only fails the run instead of skipping the rest of its file (npm run lint says where).
    allowOnly: false,
    include: ["tests/**/*.test.ts"],
    // The fault suite and the stack rehearsals run on their own (vitest.faults.config.ts,
    // vitest.rehearsal.config.ts).
    exclude: ["tests/faults/**", "tests/rehearsal/stack.test.ts", "tests/rehearsal/journeys.test.ts", "node_modules/**"],
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
