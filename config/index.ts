export * from "./schema";
export * from "./errors";
export * from "./parse";
export * from "./stages";
export * from "./strategy";
export * from "./access";
export * from "./stores";
export { loadConfig } from "./load";
export { requireSecretStorage, SECRET_CONFIG_KEYS } from "./secret-storage";
