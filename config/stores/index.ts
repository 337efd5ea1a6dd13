export { STORE_KINDS, isNamedForm, splitStoreForms } from "./forms";
export type { NamedStores, StoreForms, StoreKind } from "./forms";
export * from "./model";
export { checkStores } from "./checks";
export { resolveStoreSecrets, storeUrl, storeUrlStandins } from "./secrets";
export { refuseSeveralStores } from "./limit";
