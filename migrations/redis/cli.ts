import { Command } from "commander";

export function registerRedisCommands(program: Command): void {
  void program;
}
