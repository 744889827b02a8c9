import type { SyncIssue } from "../sync/types.ts";
import { EXIT, type CliContext } from "./context.ts";
import { CliFailure } from "./output.ts";

/**
 * A write command's push came back with refusals (rejected, conflict, gone): each is printed
 * with the server's own words and the command exits 6, as the README's exit-code table says.
 * The writes themselves are recorded in `issues()`, never dropped silently.
 */
export function failOnPushIssues(ctx: CliContext, issues: readonly SyncIssue[]): void {
  if (issues.length === 0) return;
  for (const i of issues) ctx.io.err(`${i.kind}: ${i.collection}/${i.id}: ${i.message}\n`);
  throw new CliFailure(EXIT.refused, `the server refused ${issues.length} write${issues.length === 1 ? "" : "s"}; the document${issues.length === 1 ? " is" : "s are"} back to the server's state (stowage status; issues are kept)`);
}
