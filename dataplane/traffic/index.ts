// What the Pulumi program and the rehearsal import from the traffic data plane.
export { renderProxyBlock, renderStandaloneConf, parseOrigin, DEFAULT_ORIGIN_CA } from "./proxy-config";
export type { ProxyOptions, StandaloneOptions } from "./proxy-config";
export { applyProxy, revertProxy, applyScript, revertScript, DEFAULT_LAYOUT } from "./proxy-switch";
export type { NginxLayout, ApplyResult, RevertResult } from "./proxy-switch";
export { parseHostTarget } from "./remote-host";
export type { HostTarget, SshOptions } from "./remote-host";
export { runHealthGate, probe } from "./health-gate";
export type { HealthGateOptions, HealthGateResult, Attempt } from "./health-gate";
