/** What build.ts bakes into a compiled executable (its `define` of STOWAGE_BUILD). */
export interface BuildInfo {
  /** The git commit built, `-dirty` when the tree had changes, or null outside git. */
  commit: string | null;
  /** The build target: linux-x64, linux-arm64, darwin-arm64, darwin-x64, windows-x64. */
  target: string;
  /** Whether the libsql native addon is inside the executable. */
  libsql: boolean;
}

declare const STOWAGE_BUILD: BuildInfo | undefined;

/** This executable's build facts, or undefined when running from source (bun, node, deno, bunx). */
export function buildInfo(): BuildInfo | undefined {
  return typeof STOWAGE_BUILD === "undefined" ? undefined : STOWAGE_BUILD;
}
