export * from "./process";
export * from "./postgres";
export * from "./redis";
export * from "./certificates";
export * from "./nginx";
export * from "./heroku-api";
export * from "./credentials";
