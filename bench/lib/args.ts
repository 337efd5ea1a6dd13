// Command-line options shared by the benches: `npm run bench:pg-copy -- --gb 0.05 --jobs 4 --rounds 3`.
export interface BenchArgs {
  /** Generated data size in GB (default 1). */
  gb: number;
  /** Parallel jobs given to every contender (default 4). */
  jobs: number;
  /** Rounds, each running every contender, the order alternating (default 3). */
  rounds: number;
}

export function parseBenchArgs(argv: string[] = process.argv.slice(2)): BenchArgs {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  };
  const gb = Number(value("--gb") ?? 1);
  const jobs = Number(value("--jobs") ?? 4);
  if (!(gb > 0)) throw new Error(`--gb must be a positive number of gigabytes, got ${value("--gb")}`);
  const rounds = Number(value("--rounds") ?? 3);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive integer, got ${value("--jobs")}`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${value("--rounds")}`);
  return { gb, jobs, rounds };
}
