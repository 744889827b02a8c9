/** Collects benchmark figures and prints them as one aligned table at the end of a run. */
export interface Reporter {
  /** Records a figure; `ratio` is against the baseline measured in the same run. */
  figure(section: string, name: string, value: number, unit: string, extra?: { ratio?: number; note?: string; anchor?: Anchor }): void;
  /** Prints a line of progress to stderr (figures go to stdout). */
  log(message: string): void;
}

/** The figure a row is measured against in the same run (same unit): printed beside it with value ÷ anchor. */
export interface Anchor {
  name: string;
  value: number;
}

export interface Row {
  section: string;
  name: string;
  value: number;
  unit: string;
  ratio?: number;
  note?: string;
  anchor?: Anchor;
  /** value ÷ anchor.value, when the row has an anchor. */
  times?: number;
}

/** `4.2× <anchor> (0.15 ms)`: how a row reads against its anchor. */
function againstAnchor(r: Pick<Row, "anchor" | "times" | "unit">): string {
  return r.anchor && r.times !== undefined ? `${r.times.toFixed(2)}× ${r.anchor.name} (${format(r.anchor.value)} ${r.unit})` : "";
}

export function createReporter(): Reporter & { rows: Row[]; print(json: boolean): void } {
  const rows: Row[] = [];
  return {
    rows,
    figure(section, name, value, unit, extra = {}) {
      const row: Row = { section, name, value, unit, ...extra };
      if (extra.anchor && extra.anchor.value > 0) row.times = value / extra.anchor.value;
      rows.push(row);
      const against = againstAnchor(row);
      process.stderr.write(`  ${section} · ${name}: ${format(value)} ${unit}${extra.ratio !== undefined ? ` (${(extra.ratio * 100).toFixed(0)}% of raw)` : ""}${against ? ` (${against})` : ""}\n`);
    },
    log(message) {
      process.stderr.write(`${message}\n`);
    },
    print(json) {
      if (json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      let section = "";
      for (const r of rows) {
        if (r.section !== section) {
          section = r.section;
          console.log(`\n${section}`);
        }
        const ratio = r.ratio === undefined ? "" : `  ${(r.ratio * 100).toFixed(0).padStart(4)}% of raw`;
        const against = againstAnchor(r);
        console.log(`  ${r.name.padEnd(58)} ${format(r.value).padStart(12)} ${r.unit.padEnd(8)}${ratio}${against ? `  ${against}` : ""}${r.note ? `  ${r.note}` : ""}`);
      }
    },
  };
}

function format(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2);
}

/** Runs `fn` and answers the elapsed milliseconds. */
export async function time(fn: () => unknown | Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
