// ferry: move a live app off Heroku or a Vultr box onto AWS with Cloudflare in front.
// This file is the table of contents; the stages are chosen by the ferry:* flags
// (docs/program.md).
import { loadConfig } from "./config";
import { buildFerry } from "./program";

// 1. Read and validate ferry:* (fails with the key's name before any resource exists).
const config = loadConfig();

// 2-4. Source (read only), target (AWS), and the stages the flags ask for.
const ferry = buildFerry(config);

// 5. What exists, where each component stands, and what the next flag will do.
export const source = ferry.source; // the Heroku apps' add-ons and domains as read (heroku sources)
export const endpoints = ferry.endpoints;
export const postgresUrl = ferry.postgresUrl;
export const redisUrl = ferry.redisUrl;
export const stages = ferry.stages;
export const activeStages = ferry.activeStages;
export const trafficPercent = ferry.trafficPercent;
export const nextStep = ferry.nextStep;
export const postgresTrialCopy = ferry.postgresTrialCopy; // dump: the trial copy's time and size, for `npm run plan -- --outputs`
