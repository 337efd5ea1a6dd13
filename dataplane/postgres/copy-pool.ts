// A fixed number of workers, each owning its own connections, draining a shared
// queue. Tasks are taken in the order given (the caller puts the biggest first),
// and the first failure stops every worker from taking new tasks.
export async function runPool<W, T>(
  tasks: T[],
  workers: number,
  openWorker: (index: number) => Promise<W>,
  runTask: (worker: W, task: T) => Promise<void>,
  closeWorker: (worker: W) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const count = Math.max(1, Math.min(workers, tasks.length));
  const loop = async (index: number) => {
    const worker = await openWorker(index);
    try {
      while (failed === undefined && next < tasks.length) {
        const task = tasks[next++];
        await runTask(worker, task);
      }
    } finally {
      await closeWorker(worker);
    }
  };
  await Promise.all(
    Array.from({ length: tasks.length ? count : 0 }, (_, i) =>
      loop(i).catch((err) => {
        if (failed === undefined) failed = err;
      }),
    ),
  );
  if (failed !== undefined) throw failed;
}

/** Default parallelism: the database servers do the work, so more than the local cores, bounded. */
export function defaultJobs(cpus: number): number {
  return Math.min(16, Math.max(4, cpus));
}
