// kill -9 of `ferry cutover` (Postgres logical + Redis REPLICAOF) at every crash point:
// the last third of the sweep (crash.sweep.ts), in its own file so the shards run side by side.
import { stackCrashSweep } from "./crash.sweep";

stackCrashSweep(2, 3);
