import { CHECKS, type KitContext } from "./checks.ts";
import { CheckFailure, KitClient } from "./client.ts";
import { PARTIAL_CHECKS, subjectOf, type PartialKitContext } from "./partial-checks.ts";

export interface KitOptions {
  /** The server's base URL. */
  url: string;
  /** A key of the tenant the checks write to (use a test tenant: the kit adds a few documents). */
  key: string;
  /** A key of another tenant, for the isolation check. */
  keyB?: string;
  /** Two principals of ONE tenant on a server running KIT_RULES (partial-sync rules checks). */
  rulesKey?: string;
  rulesKeyOther?: string;
  /** Injected fetch (tests). */
  fetch?: typeof fetch;
  /** Only the checks with these names (default: all). */
  only?: string[];
}

export interface KitResult {
  name: string;
  status: "pass" | "fail" | "skip";
  detail: string;
  ms: number;
}

export interface KitReport {
  url: string;
  runId: string;
  results: KitResult[];
  passed: number;
  failed: number;
  skipped: number;
  /** Set when the server could not be reached at all (no check ran). */
  unreachable?: string;
}

/** Runs every check in order; a check's failure never stops the others. Never rejects. */
export async function runConformanceKit(options: KitOptions): Promise<KitReport> {
  const runId = Array.from(crypto.getRandomValues(new Uint8Array(5)), (b) => b.toString(16).padStart(2, "0")).join("");
  const a = new KitClient(options.url, options.key, { fetch: options.fetch });
  const ctx: KitContext = { a, b: options.keyB ? new KitClient(options.url, options.keyB, { fetch: options.fetch }) : undefined, runId };
  const report: KitReport = { url: a.url, runId, results: [], passed: 0, failed: 0, skipped: 0 };
  try {
    await a.call("GET", "/v1/health", { auth: null });
  } catch (e) {
    report.unreachable = `${a.url} is unreachable: ${(e as Error)?.message ?? String(e)}`;
    return report;
  }
  const principal = (token: string | undefined) => (token ? { client: new KitClient(options.url, token, { fetch: options.fetch }), sub: subjectOf(token) } : undefined);
  let partial: PartialKitContext;
  try {
    partial = { a, runId, owner: principal(options.rulesKey), other: principal(options.rulesKeyOther) };
  } catch (e) {
    partial = { a, runId };
    report.results.push({ name: "rules-keys", status: "fail", detail: (e as Error).message, ms: 0 });
    report.failed++;
  }
  const all = [...CHECKS.map((c) => ({ name: c.name, run: () => c.run(ctx) })), ...PARTIAL_CHECKS.map((c) => ({ name: c.name, run: () => c.run(partial) }))];
  for (const check of all) {
    if (options.only && !options.only.includes(check.name)) continue;
    const start = Date.now();
    let result: KitResult;
    try {
      const outcome = await check.run();
      result = { name: check.name, ...outcome, ms: Date.now() - start };
    } catch (e) {
      const detail = e instanceof CheckFailure ? e.message : `unexpected error: ${(e as Error)?.message ?? String(e)}`;
      result = { name: check.name, status: "fail", detail, ms: Date.now() - start };
    }
    report.results.push(result);
    if (result.status === "pass") report.passed++;
    else if (result.status === "fail") report.failed++;
    else report.skipped++;
  }
  return report;
}

/** The pass/fail table `stowage conformance` prints. */
export function formatKitTable(report: KitReport, color = false): string {
  const paint = (s: string, code: number) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const width = Math.max(5, ...report.results.map((r) => r.name.length));
  const lines = [`conformance of ${report.url} (run ${report.runId})`, "", `${"check".padEnd(width)}  result  detail`];
  for (const r of report.results) {
    const mark = r.status === "pass" ? paint("PASS", 32) : r.status === "fail" ? paint("FAIL", 31) : paint("SKIP", 33);
    lines.push(`${r.name.padEnd(width)}  ${mark}    ${r.detail}`);
  }
  lines.push("", `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`);
  return `${lines.join("\n")}\n`;
}
