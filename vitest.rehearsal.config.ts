import { defineConfig } from "vitest/config";

// The stack rehearsals (both example stacks, the real app under load) measure timing:
// a write that takes more than the load's 5 s timeout counts as failed. They run after
// the main suite, one at a time, with the machine to themselves, as an operator runs
// `npm run rehearse`; sharing two cores with the server-backed suites starved the Rails
// app past that timeout.
export default defineConfig({
  test: {
    // A stray .only fails the run instead of skipping the rest of its file (npm run lint says where).
    allowOnly: false,
    // The stores-first stories (journeys.test.ts) run with `npm run test:stories` until they
    // pass (docs/rehearsal.md); FERRY_STORIES=1 selects them instead of the example stacks.
    include: [process.env.FERRY_STORIES === "1" ? "tests/rehearsal/journeys.test.ts" : "tests/rehearsal/stack.test.ts"],
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 1_800_000,
    hookTimeout: 180_000,
  },
});
