/**
 * A Debian tool a test needs (`sqlite3`): its path, or undefined after printing why the test
 * skips. Under CI=true a missing tool fails instead (.ci/run installs it).
 */
export function requireTool(name: string): string | undefined {
  const path = Bun.which(name);
  if (path) return path;
  if (process.env.CI === "true") throw new Error(`${name} is not installed: .ci/run installs it (apt-get install -y ${name})`);
  console.log(`[skip] ${name} is not installed (apt-get install -y ${name}); skipping its part of this test`);
  return undefined;
}
