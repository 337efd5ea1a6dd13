// Dyno sizes to Fargate task sizes, and the Fargate rule on CPU and memory.
//
// Heroku (help.heroku.com "How can I determine the memory limit of a dyno?" and Dev
// Center "Dyno Types"): eco, basic and standard-1X have 512 MiB, standard-2X 1 GiB,
// performance-M 2.5 GiB, performance-L 14 GiB, performance-L-RAM 30 GiB; private and
// shield sizes match S = 1 GiB, M = 2.5 GiB, L = 14 GiB. Each maps to the smallest
// Fargate size with at least the dyno's memory; dedicated (performance, private) dynos
// get at least a whole vCPU.
//
// Fargate (Amazon ECS Developer Guide, "Task CPU and memory" / RegisterTaskDefinition
// `memory`): only these combinations register; anything else fails with
// "ClientException: No Fargate configuration exists for given values".
import type { DYNO_SIZES } from "../../../config/schema";

export type DynoSize = (typeof DYNO_SIZES)[number];

export interface TaskSize {
  /** CPU units (1024 = 1 vCPU). */
  cpu: number;
  /** MiB. */
  memory: number;
}

export const DYNO_TASK_SIZES: Record<DynoSize, TaskSize> = {
  eco: { cpu: 256, memory: 512 },
  basic: { cpu: 256, memory: 512 },
  "standard-1X": { cpu: 256, memory: 512 },
  "standard-2X": { cpu: 512, memory: 1024 },
  "performance-M": { cpu: 1024, memory: 3072 },
  "performance-L": { cpu: 2048, memory: 14336 },
  "performance-L-RAM": { cpu: 4096, memory: 30720 },
  "private-S": { cpu: 1024, memory: 2048 },
  "private-M": { cpu: 1024, memory: 3072 },
  "private-L": { cpu: 2048, memory: 14336 },
  "shield-S": { cpu: 1024, memory: 2048 },
  "shield-M": { cpu: 1024, memory: 3072 },
  "shield-L": { cpu: 2048, memory: 14336 },
};

const GiB = 1024;

/** The memory values Fargate accepts with `cpu` (MiB), per the ECS documentation's table. */
export function fargateMemoryChoices(cpu: number): number[] {
  const range = (from: number, to: number, step: number) => Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
  switch (cpu) {
    case 256: return [512, 1 * GiB, 2 * GiB];
    case 512: return range(1 * GiB, 4 * GiB, GiB);
    case 1024: return range(2 * GiB, 8 * GiB, GiB);
    case 2048: return range(4 * GiB, 16 * GiB, GiB);
    case 4096: return range(8 * GiB, 30 * GiB, GiB);
    // 8 and 16 vCPU need Linux platform 1.4.0 or later (the LATEST platform version).
    case 8192: return range(16 * GiB, 60 * GiB, 4 * GiB);
    case 16384: return range(32 * GiB, 120 * GiB, 8 * GiB);
    default: return [];
  }
}

export function isFargateSize(size: TaskSize): boolean {
  return fargateMemoryChoices(size.cpu).includes(size.memory);
}

/**
 * The task size for a process: the dyno size's, or the explicit cpu/memory (both must
 * be given, and be a Fargate combination). `key` names the config key in the error.
 */
export function taskSize(spec: { size: DynoSize; cpu?: number; memory?: number }, key: string): TaskSize {
  if (spec.cpu === undefined && spec.memory === undefined) return DYNO_TASK_SIZES[spec.size];
  if (spec.cpu === undefined || spec.memory === undefined) {
    throw new Error(`${key}: give both cpu and memory (or neither, to size from \`size\`)`);
  }
  const size = { cpu: spec.cpu, memory: spec.memory };
  if (!isFargateSize(size)) {
    throw new Error(`${key}: Fargate has no ${size.cpu} CPU / ${size.memory} MiB size; with cpu ${size.cpu} memory may be ${describeChoices(fargateMemoryChoices(size.cpu))}`);
  }
  return size;
}

function describeChoices(values: number[]): string {
  if (values.length <= 4) return values.join(", ");
  return `${values[0]} to ${values[values.length - 1]} in steps of ${values[1] - values[0]}`;
}
