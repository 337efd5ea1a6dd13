import { Command } from "commander";

export function registerHerokuCommands(program: Command): void {
  void program;
}
