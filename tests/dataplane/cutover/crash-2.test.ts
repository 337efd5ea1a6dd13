// kill -9 of `ferry cutover` (Postgres logical + Redis REPLICAOF) at every crash point:
// the second half of the sweep (crash.sweep.ts), in its own file so the halves run side by side.
import { stackCrashSweep } from "./crash.sweep";

stackCrashSweep(1, 2);
