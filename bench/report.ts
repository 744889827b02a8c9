/** Collects benchmark figures and prints them as one aligned table at the end of a run. */
export interface Reporter {
  /** Records a figure; `ratio` is against the baseline measured in the same run. */
  figure(section: string, name: string, value: number, unit: string, extra?: { ratio?: number; note?: string }): void;
  /** Prints a line of progress to stderr (figures go to stdout). */
  log(message: string): void;
}

export interface Row {
  section: string;
  name: string;
  value: number;
  unit: string;
  ratio?: number;
  note?: string;
}

export function createReporter(): Reporter & { rows: Row[]; print(json: boolean): void } {
  const rows: Row[] = [];
  return {
    rows,
    figure(section, name, value, unit, extra = {}) {
      rows.push({ section, name, value, unit, ...extra });
      process.stderr.write(`  ${section} · ${name}: ${format(value)} ${unit}${extra.ratio !== undefined ? ` (${(extra.ratio * 100).toFixed(0)}% of raw)` : ""}\n`);
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
        console.log(`  ${r.name.padEnd(58)} ${format(r.value).padStart(12)} ${r.unit.padEnd(8)}${ratio}${r.note ? `  ${r.note}` : ""}`);
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
