// `bun run openapi`: writes docs/openapi.json from src/protocol/openapi.ts (the zod schemas).
// `bun run openapi --check` exits 1 when the checked-in file differs (CI runs the same check as a test).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openApiText } from "../src/protocol/openapi.ts";

const path = join(import.meta.dir, "../docs/openapi.json");
const text = openApiText();
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current !== text) {
    console.error("docs/openapi.json is out of date: run `bun run openapi`");
    process.exit(1);
  }
  console.log("docs/openapi.json is up to date");
} else {
  writeFileSync(path, text);
  console.log(`wrote ${path} (${text.length} bytes)`);
}
