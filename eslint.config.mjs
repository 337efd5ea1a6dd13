// `npm run lint`: typescript-eslint's recommended rules the codebase follows, a few
// formatting rules it already keeps, and the architecture's boundaries as import rules
// (docs/layout.md): the data plane runs on a machine with no Pulumi and no test harness.
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import js from "@eslint/js";
import stylistic from "@stylistic/eslint-plugin";
import globals from "globals";
import tseslint from "typescript-eslint";

const ROOT = dirname(fileURLToPath(import.meta.url));
const IGNORED = ["node_modules", "dist", "rehearsal/out", "bench/out", ".git"];

/**
 * Who may not import what. `from` and `forbid` are repository folders (a package name for
 * `@pulumi/*`); `except` carves folders out of `from`.
 */
export const BOUNDARIES = [
  {
    name: "data plane",
    from: ["dataplane", "bin"],
    except: [],
    // config/'s barrel re-exports loadConfig, which loads @pulumi/pulumi: the data plane
    // takes the pure modules it needs by name (config/parse, config/strategy).
    forbid: ["@pulumi/*", "components", "rehearsal", "policy", "migrations", "program", "config/index", "config/load"],
    why: "the data plane (the `ferry` CLI) runs on a runner without Pulumi or the test harness",
  },
  {
    name: "components",
    from: ["components"],
    except: [],
    forbid: ["migrations", "rehearsal", "program"],
    why: "components/ say what exists; the stages and the assembler build on them, never the other way",
  },
  {
    name: "stages",
    from: ["migrations"],
    except: [],
    forbid: ["program"],
    why: "the assembler (program.ts) wires the stages onto the components, never the other way",
  },
  {
    name: "product",
    from: ["."],
    except: ["tests", "rehearsal", "bench"],
    forbid: ["rehearsal", "tests"],
    why: "only tests, the rehearsal and the benchmarks may use the rehearsal and the test harness",
  },
];

/** `.only` on a chain that starts at describe, suite, it or test. */
export const FOCUSED = 'MemberExpression[property.name="only"]:has(Identifier[name=/^(describe|suite|it|test)$/])';

const inside = (dir, folder) => folder === "." || dir === folder || dir.startsWith(`${folder}/`);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Every folder of the repository, so a folder added later is held to its boundaries too. */
function folders(dir = ".") {
  const here = [dir];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const child = dir === "." ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory() && !IGNORED.includes(child) && !entry.name.startsWith(".")) here.push(...folders(child));
  }
  return here;
}

/**
 * An import pattern for `forbidden` as a file in `dir` writes it: relative imports are
 * matched by the exact path from that folder, so `../components` means components/ only
 * from a sibling of it.
 */
function patternFor(dir, forbidden, boundary) {
  const message = `${boundary.name} may not import ${forbidden}: ${boundary.why}`;
  if (forbidden.startsWith("@")) return { group: [forbidden], message };
  const spell = (folder) => {
    const rel = relative(dir, folder) || ".";
    return rel.startsWith("..") ? rel : `./${rel}`;
  };
  // A barrel is imported by its folder's name; a type-only import of it loads nothing.
  if (forbidden.endsWith("/index")) {
    return { regex: `^${escape(spell(dirname(forbidden)))}(/index)?$`, message, allowTypeImports: true };
  }
  return { regex: `^${escape(spell(forbidden))}(/.*)?$`, message };
}

/**
 * The `no-restricted-imports` patterns for a file or folder (`at`), from every boundary it
 * is in; a folder two boundaries forbid is reported once, by the first (the narrower one).
 */
function patternsAt(at, dir) {
  const seen = new Set();
  return BOUNDARIES.filter((b) => b.from.some((f) => inside(at, f)) && !b.except.some((e) => inside(at, e)))
    .flatMap((b) => b.forbid.filter((f) => (f.startsWith("@") || !inside(dir, f)) && !seen.has(f) && seen.add(f)).map((f) => patternFor(dir, f, b)));
}

const restrict = (files, patterns) => ({ files, rules: { "@typescript-eslint/no-restricted-imports": ["error", { patterns }] } });

/**
 * One block per folder, then one per excepted file (later blocks win): a file gets exactly
 * one set of patterns, since ESLint replaces a rule's options rather than merging them.
 */
function boundaryBlocks() {
  const byFolder = folders().map((dir) => {
    const files = ["ts", "js", "mjs"].map((ext) => (dir === "." ? `*.${ext}` : `${dir}/*.${ext}`));
    return restrict(files, patternsAt(dir, dir));
  });
  const exceptedFiles = BOUNDARIES.flatMap((b) => b.except).filter((e) => /\.[a-z]+$/.test(e));
  const byFile = exceptedFiles.map((file) => restrict([file], patternsAt(file, dirname(file))));
  return [...byFolder, ...byFile].filter((block) => block.rules["@typescript-eslint/no-restricted-imports"][1].patterns.length > 0);
}

export default tseslint.config(
  { ignores: IGNORED.filter((d) => d !== ".git").map((d) => `${d}/**`) },
  { linterOptions: { reportUnusedDisableDirectives: "error" } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    plugins: { "@stylistic": stylistic },
    rules: {
      // Unused names are compile errors already (tsconfig noUnusedLocals); `_name` marks one kept on purpose.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
  {
    // Tests edit untyped config trees in place; the rehearsal's mock monitor receives the
    // SDK's protobuf requests, which @pulumi/pulumi's own MockMonitor types as `any`.
    files: ["tests/**/*.ts", "rehearsal/stack/engine.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Tests' regexes mirror rendered text (YAML comments, Markdown table cells) to the letter.
    // A focused test (`.only`, in any chain: it.only.each, test.concurrent.only) silently
    // skips the rest of its file; vitest refuses one too (allowOnly: false), this says where.
    files: ["tests/**/*.ts"],
    rules: {
      "no-regex-spaces": "off",
      "no-restricted-syntax": ["error", { selector: FOCUSED, message: "no .only: it skips every other test of the file (focus from the command line: npx vitest run FILE -t NAME)" }],
    },
  },
  {
    // bin/ferry.js is CommonJS: it loads tsx, then the TypeScript CLI.
    files: ["**/*.js"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    rules: {
      // Formatting the code already keeps everywhere (Prettier would rewrite most files: see docs/dependencies.md).
      "@stylistic/no-trailing-spaces": "error",
      "@stylistic/eol-last": "error",
      "@stylistic/no-tabs": "error",
      "@stylistic/semi": ["error", "always"],
      "@stylistic/quotes": ["error", "double", { avoidEscape: true, allowTemplateLiterals: "always" }],
      "@stylistic/comma-dangle": ["error", "always-multiline"],
      // Conventions the code keeps without exception. Left off, as churn for style alone:
      // no-non-null-assertion (207 hits), consistent-type-imports (308), array-type (48),
      // prefer-template (29), @stylistic/indent (10: continuation lines aligned by hand).
      eqeqeq: ["error", "smart"],
      "object-shorthand": "error",
      "no-else-return": "error",
    },
  },
  ...boundaryBlocks(),
  {
    // The boundary rules read static imports (require() is refused everywhere in
    // TypeScript by no-require-imports): the data plane imports statically.
    files: ["dataplane/**/*.ts", "bin/**/*.ts"],
    rules: { "no-restricted-syntax": ["error", { selector: "ImportExpression", message: "data plane: import statically, so the boundary rules (eslint.config.mjs) can check it" }] },
  },
);
