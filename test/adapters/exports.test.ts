import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

// An application that embeds one adapter must never load another's driver: walk each
// package entry point's import graph (static and dynamic imports) and list the drivers in it.
const ROOT = join(import.meta.dir, "../..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, string | Record<string, string>> };
/** The TypeScript source an export serves (Bun reads it directly; lib/ is its compiled copy). */
const source = (name: string): string => {
  const target = pkg.exports[name];
  return typeof target === "string" ? target : target.bun;
};
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
    for (const name of Object.keys(pkg.exports)) expect([name, existsSync(join(ROOT, source(name)))]).toEqual([name, true]);
    expect(source("./libsql")).toBe("./adapters/libsql/index.ts");
    expect(source("./node-sqlite")).toBe("./adapters/node-sqlite/index.ts");
    expect(source("./bun-sqlite")).toBe("./adapters/bun-sqlite/index.ts");
    // Node and Deno refuse TypeScript under node_modules: they get lib/ (test/runtimes/package.ts).
    for (const name of [".", "./libsql", "./node-sqlite"]) {
      const target = pkg.exports[name] as Record<string, string>;
      expect(Object.keys(target)).toEqual(["types", "bun", "default"]);
      expect(target.default).toBe(`./lib/${target.bun.slice(2).replace(/\.ts$/, ".js")}`);
      expect(target.types).toBe(`./lib/${target.bun.slice(2).replace(/\.ts$/, ".d.ts")}`);
    }
  });

  test("the core entry loads no SQLite driver; each adapter entry loads only its own", () => {
    expect(drivers(source("."))).toEqual([]);
    expect(drivers(source("./node-sqlite"))).toEqual(["node:sqlite"]);
    expect(drivers(source("./libsql"))).toEqual(["@libsql/client"]);
    expect(drivers(source("./bun-sqlite"))).toEqual(["bun:sqlite"]);
  });

  test("no adapter entry reaches into another adapter's folder", () => {
    for (const own of ["libsql", "node-sqlite", "bun-sqlite"]) {
      const foreign = [...graph(source(`./${own}`)).files].filter((f) => f.includes("/adapters/") && !f.includes(`/adapters/${own}/`));
      expect([own, foreign]).toEqual([own, []]);
    }
  });
});
