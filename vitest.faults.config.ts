import { defineConfig } from "vitest/config";

// The fault suite kills and restarts real servers; it runs on its own (npm run test:faults).
export default defineConfig({
  test: {
    // A stray .only fails the run instead of skipping the rest of its file (npm run lint says where).
    allowOnly: false,
    include: ["tests/faults/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
