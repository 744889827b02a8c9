/**
 * The process environment, read in the one place that may touch runtime globals. The core
 * takes the environment as an option defaulting to this, so it never probes `process` itself.
 */
export function readEnv(): Record<string, string | undefined> {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> }; Deno?: { env: { toObject(): Record<string, string> } } };
  if (g.process?.env) return g.process.env;
  try {
    return g.Deno?.env.toObject() ?? {};
  } catch {
    return {}; // Deno without --allow-env
  }
}
