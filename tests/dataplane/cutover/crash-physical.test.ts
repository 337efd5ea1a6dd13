// kill -9 of `ferry cutover` (Postgres physical standby + Redis REPLICAOF) at every crash
// point: the first third of the sweep (crash-physical.sweep.ts).
import { stackPhysicalCrashSweep } from "./crash-physical.sweep";

stackPhysicalCrashSweep(0, 3);
