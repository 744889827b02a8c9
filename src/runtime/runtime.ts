/** The JavaScript runtimes Stowage runs on. */
export type RuntimeName = "bun" | "deno" | "node";

/**
 * Which runtime this process is. The one place that asks: everything runtime-specific
 * (HTTP listener, default adapter) branches on this rather than probing globals itself.
 * Bun and Deno both define `process` for Node compatibility, so they are checked first.
 */
export function runtimeName(): RuntimeName {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (typeof g.Bun !== "undefined") return "bun";
  if (typeof g.Deno !== "undefined") return "deno";
  return "node";
}

/** `bun 1.4.5`, `deno 2.9.6`, `node 24.21.0`: for status output and bug reports. */
export function runtimeVersion(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } }; process?: { versions?: { node?: string } } };
  const name = runtimeName();
  if (name === "bun") return `bun ${g.Bun!.version}`;
  if (name === "deno") return `deno ${g.Deno!.version.deno}`;
  return `node ${g.process?.versions?.node ?? "unknown"}`;
}
