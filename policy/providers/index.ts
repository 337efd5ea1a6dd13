// Provider rules: what AWS, Cloudflare and the Pulumi engine would refuse, checked on
// every registration the program makes under mocks (tests/program/harness.ts and the
// plan's collector, policy/plan/collect.ts).
export { AUTONAMED, checkImport, checkOptions, checkRegistration, physicalName, plainInputs, RULES } from "./rules";
export type { LiveDnsRecord, ProviderWorld, Registration, RegistrationOptions } from "./rules";
export { checkStack, worldOf } from "./stack";
export { containersOf, isScheduleExpression } from "./ecs";
export type { ContainerDefinition } from "./ecs";
