// kill -9 of `ferry pg cutover --strategy logical` at every crash point: the second half
// of the sweep (crash-logical.sweep.ts), in its own file so the halves run side by side.
import { logicalCrashSweep } from "./crash-logical.sweep";

logicalCrashSweep(1, 2);
