import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Every process's history in a seed's directory (`h-<name>.jsonl`, one JSON line per event), each
 * in its own order. A line torn by SIGKILL mid-write is skipped: a process killed while writing
 * leaves at most its last line half written.
 */
export function readHistories<L>(dir: string): Map<string, L[]> {
  const out = new Map<string, L[]>();
  for (const name of readdirSync(dir).filter((n) => n.startsWith("h-")).sort()) {
    const lines: L[] = [];
    for (const text of readFileSync(join(dir, name), "utf8").split("\n")) {
      if (!text) continue;
      try {
        lines.push(JSON.parse(text) as L);
      } catch {
        // the torn last line
      }
    }
    out.set(name.slice(2, -6), lines);
  }
  return out;
}
