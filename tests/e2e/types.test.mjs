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
    paths: {
      keyward: [join(pkg, "index.d.ts")],
      "keyward/sessions": [join(pkg, "sessions.d.ts")],
      "keyward/devices": [join(pkg, "devices.d.ts")],
      "keyward/passkeys": [join(pkg, "passkeys.d.ts")],
      "keyward/email": [join(pkg, "email.d.ts")],
      "keyward/password": [join(pkg, "password.d.ts")],
      "keyward/magic-link": [join(pkg, "magic-link.d.ts")],
      "keyward/mfa": [join(pkg, "mfa.d.ts")],
      "keyward/oauth": [join(pkg, "oauth.d.ts")],
      "keyward/orgs": [join(pkg, "orgs.d.ts")],
      "keyward/apps": [join(pkg, "apps.d.ts")],
      "keyward/admin": [join(pkg, "admin.d.ts")],
      "keyward/react": [join(pkg, "react.d.ts")],
    },
    skipLibCheck: false,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  assert.deepEqual(diagnostics, []);
});

test("the public declarations never say any", () => {
  const names = ["index", "sessions", "devices", "passkeys", "email", "password", "magic-link", "mfa", "oauth", "orgs", "apps", "admin", "react"];
  for (const name of names.map((n) => `${n}.d.ts`)) {
    const text = readFileSync(join(pkg, name), "utf8");
    const offending = text.split("\n").filter((line) => /\bany\b/.test(line.replace(/\/\*\*.*\*\/|\/\/.*$/g, "")));
    assert.deepEqual(offending, [], `${name} has \`any\``);
  }
});

test("the ErrorCode union is the Rust list: every server code and every client code", () => {
  const rust = (path, pattern) => [...readFileSync(join(root, path), "utf8").matchAll(pattern)].map((m) => m[1]);
  const server = rust("proto/src/error.rs", /=> "([a-z_]+)",/g);
  const client = rust("client-wasm/src/error.rs", /Self::\w+(?: \{ \.\. \}|\(_\))? => "([a-z_]+)",/g);
  const expected = new Set([...server, "unknown", ...client]);
  const entry = readFileSync(join(pkg, "index.d.ts"), "utf8");
  const union = entry.slice(entry.indexOf("export type ErrorCode ="), entry.indexOf(";", entry.indexOf("export type ErrorCode =")));
  const typed = new Set([...union.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]));
  assert.ok(server.length > 20 && client.length >= 8, "the Rust lists were found");
  assert.deepEqual([...typed].sort(), [...expected].sort());
});
