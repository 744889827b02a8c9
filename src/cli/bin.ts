#!/usr/bin/env bun
// The `stowage` entry: runtime glue only. Everything else is in main.ts and commands/.
import pkg from "../../package.json" with { type: "json" };
import { createProcessIo } from "./process-io.ts";
import { runCli } from "./main.ts";

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  // The fast path a script checks first: no database, no command module.
  process.stdout.write(`stowage ${pkg.version}\n`);
} else {
  const code = await runCli(argv, createProcessIo(pkg.version, selfCommand()));
  // Let piped stdout drain before exiting; long-running commands have returned by now.
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  process.exit(code);
}

/** How a person runs this CLI again: the executable itself, or `npx bun <script>` in a checkout. */
function selfCommand(): string {
  const compiled = import.meta.url.includes("$bunfs") || import.meta.url.includes("~BUN");
  if (compiled) return process.execPath;
  // Under `npm start` Bun may exist only in node_modules/.bin: npx finds it there.
  return process.env.npm_lifecycle_event ? "npx bun src/cli/bin.ts" : "stowage";
}
