// kill -9 of `ferry cutover` (Postgres logical + Redis REPLICAOF) at every crash point:
// the first third of the sweep (crash.sweep.ts).
import { stackCrashSweep } from "./crash.sweep";

stackCrashSweep(0, 3);
