/**
 * The libsql native addon inside a compiled executable.
 *
 * `libsql` (under @libsql/client) picks its addon at run time with `require(\`@libsql/${target}\`)`,
 * a path no bundler can follow, so a plain `bun build --compile` leaves it out and the
 * executable fails on the first `file:` or `libsql://` URL. The plugin below rewrites that one
 * function to `require("<absolute path>/index.node")` of the build target's platform package;
 * Bun embeds a `.node` file required by a literal path and loads it from the executable.
 * The platform package comes from node_modules, or, for a cross target, from the npm
 * registry through `npm pack` (the same registry Bun fetches target runtimes from).
 */
import type { BunPlugin } from "bun";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

/** libsql's prebuilt addon package per build target (each has one: see libsql's package.json `neon.targets`). */
export const ADDON_PACKAGES: Record<string, string> = {
  "linux-x64": "@libsql/linux-x64-gnu",
  "linux-arm64": "@libsql/linux-arm64-gnu",
  "darwin-arm64": "@libsql/darwin-arm64",
  "darwin-x64": "@libsql/darwin-x64",
  "windows-x64": "@libsql/win32-x64-msvc",
};

export interface AddonChoice {
  /** Absolute path of the target's `index.node`, or undefined when it cannot be had. */
  path: string | undefined;
  /** Why there is none (shown by the build and by the executable). */
  why?: string;
}

/** Finds (or fetches) the addon for `target`; never throws. */
export function libsqlAddon(target: string, options: { fetch: boolean }): AddonChoice {
  const name = ADDON_PACKAGES[target];
  if (!name) return { path: undefined, why: `libsql ships no prebuilt addon for ${target}` };
  const version = (JSON.parse(readFileSync(join(ROOT, "node_modules", "libsql", "package.json"), "utf8")) as { version: string }).version;
  const installed = join(ROOT, "node_modules", name, "index.node");
  if (existsSync(installed) && installedVersion(name) === version) return { path: installed };
  const cached = join(ROOT, "node_modules", ".cache", "stowage-libsql", `${name.replace("/", "+")}-${version}`);
  const file = join(cached, "package", "index.node");
  if (existsSync(file)) return { path: file };
  if (!options.fetch) return { path: undefined, why: `${name}@${version} is not installed` };
  mkdirSync(cached, { recursive: true });
  const pack = Bun.spawnSync(["npm", "pack", `${name}@${version}`, "--pack-destination", cached, "--silent"], { stdout: "pipe", stderr: "pipe" });
  const tarball = pack.stdout.toString().trim().split("\n").pop() ?? "";
  if (pack.exitCode !== 0 || !tarball) return { path: undefined, why: `npm pack ${name}@${version} failed: ${pack.stderr.toString().trim().split("\n").pop()}` };
  const untar = Bun.spawnSync(["tar", "xzf", join(cached, tarball), "-C", cached], { stdout: "pipe", stderr: "pipe" });
  if (untar.exitCode !== 0 || !existsSync(file)) return { path: undefined, why: `could not unpack ${tarball}: ${untar.stderr.toString().trim()}` };
  return { path: file };
}

function installedVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** Rewrites libsql's addon lookup to the chosen file, or to an error that names the target. */
export function libsqlAddonPlugin(target: string, addon: AddonChoice): BunPlugin {
  return {
    name: "stowage-libsql-addon",
    setup(build) {
      build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/]index\.js$/ }, async (args) => {
        const text = await Bun.file(args.path).text();
        const body = addon.path
          ? `return require(${JSON.stringify(addon.path)});`
          : `throw new Error(${JSON.stringify(`this executable (${target}) has no libsql native addon: ${addon.why}`)});`;
        const rewritten = text.replace(/function requireNative\(\) \{[\s\S]*?\n\}\n/, `function requireNative() {\n  ${body}\n}\n`);
        // A libsql release that loads its addon some other way must fail the build, not the user.
        if (rewritten === text) throw new Error(`${args.path}: requireNative() not found; update scripts/libsql-addon.ts for this libsql version`);
        return { contents: rewritten, loader: "js" };
      });
    },
  };
}
