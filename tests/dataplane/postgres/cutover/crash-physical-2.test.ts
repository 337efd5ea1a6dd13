// kill -9 of `ferry pg cutover --strategy physical` at every crash point: the second half
// of the sweep (crash-physical.sweep.ts), in its own file so the halves run side by side.
import { physicalCrashSweep } from "./crash-physical.sweep";

physicalCrashSweep(1, 2);
