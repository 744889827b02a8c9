import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

// An application that embeds one adapter must never load another's driver: walk each
// package entry point's import graph (static and dynamic imports) and list the drivers in it.
const ROOT = join(import.meta.dir, "../..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, string> };
const DRIVERS = ["bun:sqlite", "node:sqlite", "@libsql/client", "pg"];
const transpiler = new Bun.Transpiler({ loader: "ts" });

function graph(entry: string): { files: Set<string>; bare: Set<string> } {
  const files = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const imp of transpiler.scanImports(readFileSync(file, "utf8"))) {
      if (imp.path.startsWith(".")) visit(resolve(dirname(file), imp.path));
      else bare.add(imp.path);
    }
  };
  visit(join(ROOT, entry));
  return { files, bare };
}

const drivers = (entry: string) => DRIVERS.filter((d) => graph(entry).bare.has(d));

describe("package exports", () => {
  test("every export points at a file that exists, and each adapter has its own entry", () => {
    for (const [name, target] of Object.entries(pkg.exports)) expect([name, existsSync(join(ROOT, target))]).toEqual([name, true]);
    expect(pkg.exports["./libsql"]).toBe("./adapters/libsql/index.ts");
    expect(pkg.exports["./node-sqlite"]).toBe("./adapters/node-sqlite/index.ts");
    expect(pkg.exports["./bun-sqlite"]).toBe("./adapters/bun-sqlite/index.ts");
  });

  test("the core entry loads no SQLite driver; each adapter entry loads only its own", () => {
    expect(drivers(pkg.exports["."])).toEqual([]);
    expect(drivers(pkg.exports["./node-sqlite"])).toEqual(["node:sqlite"]);
    expect(drivers(pkg.exports["./libsql"])).toEqual(["@libsql/client"]);
    expect(drivers(pkg.exports["./bun-sqlite"])).toEqual(["bun:sqlite"]);
  });

  test("no adapter entry reaches into another adapter's folder", () => {
    for (const own of ["libsql", "node-sqlite", "bun-sqlite"]) {
      const foreign = [...graph(pkg.exports[`./${own}`]).files].filter((f) => f.includes("/adapters/") && !f.includes(`/adapters/${own}/`));
      expect([own, foreign]).toEqual([own, []]);
    }
  });
});
