// The throwaway sshd lives with the other local servers (the rehearsal's old box uses it too).
export { startSshd } from "../../../rehearsal/servers/sshd";
export type { LocalSshd as TestSshd } from "../../../rehearsal/servers/sshd";
