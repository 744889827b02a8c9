/**
 * `node test/runtimes/strip-node.ts`: every TypeScript file the package ships (src/, adapters/)
 * is one Node 24 can run by stripping types (no enums, parameter properties or namespaces),
 * checked with Node's own stripper rather than trusting tsc's erasableSyntaxOnly alone.
 */
import { readdirSync, readFileSync } from "node:fs";
import { stripTypeScriptTypes } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const files: string[] = [];
const walk = (d: string) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) files.push(p);
  }
};
walk(join(root, "src"));
walk(join(root, "adapters"));

let failed = 0;
for (const f of files) {
  try {
    stripTypeScriptTypes(readFileSync(f, "utf8"), { mode: "strip" });
  } catch (e) {
    failed++;
    console.log(`FAIL ${relative(root, f)}: ${(e as Error).message.split("\n")[0]}`);
  }
}
console.log(`node strip: ${files.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
