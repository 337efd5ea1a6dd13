import { Command } from "commander";

export function registerPostgresCommands(program: Command): void {
  void program;
}
