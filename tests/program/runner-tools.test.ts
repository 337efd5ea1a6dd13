// Every command the EC2 runner's steps call is on the runner: its AMI (Debian's cloud
// image) or its user data installs it. The runner is a new instance, so anything else
// (the AWS CLI, say) is "not found" at the first real `pulumi up`. The steps are those the
// program declares on the runner at every stage of the prod stack (a box source), built
// under mocks; the runner's commands are what the rehearsal's EC2 runner has
// (rehearsal/stack/runner.ts, from components/target/userData.ts).
import { describe, expect, it } from "vitest";
import { plain, providerRules, resourcesOf, stackConfig, upTo, withFlags } from "./harness";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { runnerCommands } from "../../rehearsal/stack/runner";
import { withPooler } from "../components/pooler-config";

/** sh's own words: keywords and builtins (POSIX, as dash has them). */
const SHELL = new Set([
  "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done", "in", "!", "{", "}",
  "set", "trap", "cd", "echo", "printf", "exit", "export", "test", "[", "read", "shift", "local", "return", "true", "false",
  "eval", "exec", "wait", "command", ":", ".", "unset", "umask", "break", "continue", "type",
]);

/** The words a shell script runs as commands: the first word of each simple command. */
export function commandWords(script: string): string[] {
  const words: string[] = [];
  // Quoted text is data (an argument), never a command, unless it substitutes one ("$(...)").
  const code = script.replace(/'[^']*'/g, "''").replace(/"(?:[^"\\$]|\\.|\$(?!\())*"/g, '""');
  for (const segment of code.split(/\n|;;|;|&&|\|\||\||\$\(|`|\bthen\b|\bdo\b|\belse\b/)) {
    const tokens = segment.trim().split(/\s+/).filter(Boolean);
    // Skip assignments (n=0), case patterns (`*)`, `arn:*)`) and keywords that prefix a command.
    let i = 0;
    while (i < tokens.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(tokens[i]) || /\)$/.test(tokens[i]) || ["if", "until", "while", "!", "{", "case", "elif"].includes(tokens[i]))) {
      if (tokens[i] === "case") { i = tokens.length; break; }
      i++;
    }
    const word = tokens[i];
    if (word && /^[A-Za-z_./][A-Za-z0-9_.+/-]*$/.test(word)) words.push(word);
  }
  return words;
}

describe("the EC2 runner has every command its steps call", () => {
  it("commandWords finds the commands of a pipeline, a substitution and a loop, not their arguments", () => {
    expect(commandWords("set -eu\nd=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; cd \"$d\"\nferry --json x | aws s3 cp - 's3://b/k'\nn=0; until [ \"$(aws ecs describe-tasks)\" = STOPPED ]; do sleep 2; done"))
      .toEqual(["set", "mktemp", "trap", "cd", "ferry", "aws", "aws", "sleep", "done"]);
  });

  it("on every stage of the prod stack (box source, EC2 runner), and of the staging stack (Heroku source), with and without the pooler", async () => {
    const runner = runnerCommands({ replace: {}, projectDir: process.cwd() });
    const missing = new Set<string>();
    let steps = 0;
    let builds = 0;
    // Each stack as it is, and with the Postgres pooler (its TLS and bundle steps run on the runner).
    for (const [stack, pooler] of [["prod", false], ["staging", false], ["prod", true], ["staging", true]] as const) {
      for (const stage of ["provision", "replicate", "proxy", "cutover", "decommission"] as const) {
        const config = parseConfig(withFlags(pooler ? withPooler(stackConfig(stack)) : stackConfig(stack), upTo(stage)));
        if (config.target.runner.kind !== "ec2") continue;
        const name = `tools${++builds}`;
        buildFerry(config, { name, transformations: [providerRules(config, name)] });
        // Commands the runner runs: every remote Command connecting to the runner (not the box's own steps).
        const onRunner = (r: { inputs: Record<string, unknown> }) => (plain(r.inputs.connection) as { user?: string } | undefined)?.user === "admin";
        for (const c of (await resourcesOf(name)).filter((r) => r.type === "command:remote:Command" && onRunner(r))) {
          steps++;
          for (const script of [plain(c.inputs.create), plain(c.inputs.delete)]) {
            for (const word of commandWords(String(script ?? ""))) {
              if (!SHELL.has(word) && !runner.commands.has(word)) missing.add(`${word} (${c.name})`);
            }
          }
        }
      }
    }
    expect(steps).toBeGreaterThan(10);
    expect([...missing]).toEqual([]);
  }, 300_000);
});
