// kill -9 of `ferry cutover` (Postgres physical standby + Redis REPLICAOF) at every crash
// point: the second third of the sweep (crash-physical.sweep.ts), in its own file so the
// shards run side by side.
import { stackPhysicalCrashSweep } from "./crash-physical.sweep";

stackPhysicalCrashSweep(1, 3);
