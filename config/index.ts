export * from "./schema";
export * from "./errors";
export * from "./parse";
export * from "./stages";
export * from "./strategy";
export { loadConfig } from "./load";
