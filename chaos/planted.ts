/**
 * Planted bugs: each is a PATCHED COPY of the source (src/, adapters/, chaos/ copied to a temp
 * dir, one string replaced in one file), never a switch in production code. The checker must
 * catch every one within a bounded number of seeds (test/chaos/planted.test.ts).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./run.ts";
import type { Focus } from "./schedule.ts";

export interface PlantedBug {
  /** Replacements; every one whose text is present is applied, and at least one must be. */
  patches: { file: string; find: string; replace: string }[];
  /** What the bug is, for messages. */
  what: string;
  /** The fault mix its runs use (schedule.ts `Focus`); none: the ordinary schedules. */
  focus?: Focus;
}

export const PLANTED: Record<string, PlantedBug> = {
  // The server forgets its op marks: a retried or duplicated push is applied again.
  "reapply-duplicates": {
    what: "the server reapplies ops whose op id it already applied",
    focus: "dup",
    patches: [
      // One push per transaction, and group commit (several pushes of a tenant in one).
      { file: "src/server/push.ts", find: "const fresh = req.ops.filter((op) => op.opId > mark);", replace: "const fresh = req.ops.filter((op) => op.opId > mark || op.opId > 0);" },
      { file: "src/server/push.ts", find: "const mine = req.ops.filter((op) => op.opId > mark);", replace: "const mine = req.ops.filter((op) => op.opId > mark || op.opId > 0);" },
    ],
  },
  // Pull pages ordered by a wall-clock timestamp instead of the sequence: with server clocks
  // that disagree (restarts with skew, two instances) the cursor passes changes not yet sent.
  "timestamp-order": {
    what: "pull pages are ordered by updated_at (a timestamp), not the sequence",
    focus: "skew",
    patches: [{ file: "src/server/pull.ts", find: '.orderBy("seq")', replace: '.orderBy("updated_at")' }],
  },
  // Each op of a transaction group is applied on its own: a refused member leaves the others.
  "split-groups": {
    what: "the server applies the members of a transaction group one by one",
    focus: "groups",
    patches: [
      {
        file: "src/server/apply.ts",
        find: "if (tx !== undefined) while (end < ops.length && ops[end].tx === tx) end++;",
        replace: "if (tx !== undefined && tx < 0) while (end < ops.length && ops[end].tx === tx) end++;",
      },
    ],
  },
  // Pull ignores the outbox: a pulled value replaces a document with pending local edits.
  "pull-overwrites-pending": {
    what: "pull overwrites documents that have pending local edits",
    focus: "pending",
    patches: [
      // Page-at-a-time apply (before groups were seen whole) and the staged multi-page apply.
      { file: "src/sync/v1/pull.ts", find: "const pending = changes.length ? await pendingKeys(trx, changes) : null;", replace: "const pending = changes.length && false ? await pendingKeys(trx, changes) : null;" },
      { file: "src/store/pull-stage.ts", find: "if (any.length === 0) return;", replace: "if (any.length >= 0) return;" },
    ],
  },
  // Settling a full push batch also drops the next batch (the one in flight) from the outbox:
  // if that request's answer is lost, or it never reached the server, its writes are gone.
  // Only a push of several batches shows it: the `bursts` focus makes every client push one early.
  "settle-next-batch": {
    what: "settling a push batch also removes the next batch's ops from the outbox",
    focus: "bursts",
    patches: [
      {
        file: "src/sync/v1/push.ts",
        find: "await removeOutboxThrough(trx, batch.lastOpId);",
        replace: "await removeOutboxThrough(trx, batch.lastOpId + (batch.rows.length >= 1000 ? 5000 : 0));",
      },
    ],
  },
};

/** A temp copy of the tree with `name` planted; `cleanup()` removes it. */
export function plantedRoot(name: string): { path: string; cleanup: () => void } {
  const bug = PLANTED[name];
  if (!bug) throw new Error(`unknown planted bug ${JSON.stringify(name)}; known: ${Object.keys(PLANTED).join(", ")}`);
  const path = mkdtempSync(join(tmpdir(), `stowage-planted-${name}-`));
  for (const d of ["src", "adapters", "chaos"]) cpSync(join(REPO_ROOT, d), join(path, d), { recursive: true });
  symlinkSync(join(REPO_ROOT, "node_modules"), join(path, "node_modules"));
  cpSync(join(REPO_ROOT, "package.json"), join(path, "package.json"));
  let applied = 0;
  for (const p of bug.patches) {
    const file = join(path, p.file);
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (!text.includes(p.find)) continue;
    writeFileSync(file, text.replace(p.find, p.replace));
    applied++;
  }
  if (applied === 0) throw new Error(`planted bug ${name}: none of its patches applies to this tree any more; update chaos/planted.ts`);
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}
