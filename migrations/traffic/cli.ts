import { Command } from "commander";

export function registerTrafficCommands(program: Command): void {
  void program;
}
