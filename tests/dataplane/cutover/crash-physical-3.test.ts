// kill -9 of `ferry cutover` (Postgres physical standby + Redis REPLICAOF) at every crash
// point: the last third of the sweep (crash-physical.sweep.ts), in its own file so the
// shards run side by side.
import { stackPhysicalCrashSweep } from "./crash-physical.sweep";

stackPhysicalCrashSweep(2, 3);
