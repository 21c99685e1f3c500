// The npm package's TypeScript declarations: a strict compile of a typical usage, and no `any`
// anywhere in the public surface.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = join(root, "npm/pkg");

test("a strict TypeScript compile of the quick start finds no error", () => {
  const program = ts.createProgram([join(root, "tests/e2e/fixtures/usage.ts")], {
    strict: true,
    noImplicitAny: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    paths: { keyward: [join(pkg, "index.d.ts")] },
    skipLibCheck: false,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  assert.deepEqual(diagnostics, []);
});

test("the public declarations never say any", () => {
  const generated = readFileSync(join(pkg, "keyward_wasm.d.ts"), "utf8");
  // What follows `InitInput` is wasm-bindgen's loader plumbing, not re-exported by index.d.ts.
  const publicPart = generated.slice(0, generated.indexOf("export type InitInput"));
  const entry = readFileSync(join(pkg, "index.d.ts"), "utf8");
  for (const [name, text] of [["keyward_wasm.d.ts", publicPart], ["index.d.ts", entry]]) {
    const offending = text.split("\n").filter((line) => /\bany\b/.test(line.replace(/\/\*\*.*\*\/|\/\/.*$/g, "")));
    assert.deepEqual(offending, [], `${name} has \`any\``);
  }
  assert.ok(!entry.includes("InitOutput"));
});
