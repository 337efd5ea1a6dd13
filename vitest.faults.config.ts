import { defineConfig } from "vitest/config";

// The fault suite kills and restarts real servers; it runs on its own (npm run test:faults).
export default defineConfig({
  test: {
    include: ["tests/faults/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
