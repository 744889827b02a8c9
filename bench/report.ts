/** Collects benchmark figures and prints them as one aligned table at the end of a run. */
export interface Reporter {
  /** Records a figure; `ratio` is against the baseline measured in the same run. */
  figure(section: string, name: string, value: number, unit: string, extra?: { ratio?: number; note?: string; anchor?: Anchor }): void;
  /**
   * Records a row of the issue's table (issue 35): a figure beside its anchor measured in the
   * same run, their ratio, and the aim the ratio is held to. Printed together at the end.
   */
  aim(row: AimRow): void;
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

/** One row of the issue's table: figure, anchor and ratio side by side, and the aim. */
export interface AimRow {
  /** What is measured, as the issue names it. */
  row: string;
  figure: number;
  unit: string;
  /** The anchor, named, and its figure in the same unit. */
  anchor: { name: string; value: number };
  /** figure / anchor for times, figure / anchor for rates too (then the aim is "at least"). */
  ratio: number;
  /** `most`: ratio ≤ target (times); `least`: ratio ≥ target (rates). */
  aim: { at: "most" | "least"; target: number };
  note?: string;
}

/** An aim row as printed and in `--json`: with whether the aim was met in this run. */
export type AimResult = AimRow & { met: boolean };

export function createReporter(): Reporter & { rows: Row[]; aims: AimResult[]; print(json: boolean): void } {
  const rows: Row[] = [];
  const aims: AimResult[] = [];
  return {
    rows,
    aims,
    figure(section, name, value, unit, extra = {}) {
      const row: Row = { section, name, value, unit, ...extra };
      if (extra.anchor && extra.anchor.value > 0) row.times = value / extra.anchor.value;
      rows.push(row);
      const against = againstAnchor(row);
      process.stderr.write(`  ${section} · ${name}: ${format(value)} ${unit}${extra.ratio !== undefined ? ` (${(extra.ratio * 100).toFixed(0)}% of raw)` : ""}${against ? ` (${against})` : ""}\n`);
    },
    aim(row) {
      const met = row.aim.at === "most" ? row.ratio <= row.aim.target : row.ratio >= row.aim.target;
      aims.push({ ...row, met });
      process.stderr.write(`  aim · ${row.row}: ${format(row.figure)} ${row.unit}, ${ratioText(row)} ${row.anchor.name} (${format(row.anchor.value)} ${row.unit}); aim ${aimText(row)}${met ? "" : " NOT MET"}\n`);
    },
    log(message) {
      process.stderr.write(`${message}\n`);
    },
    print(json) {
      if (json) {
        // One array as before; the issue's rows follow the figures, with their anchor and aim.
        const table = aims.map(({ row, figure, ...a }) => ({ section: AIM_SECTION, name: row, value: figure, ...a }));
        console.log(JSON.stringify([...rows, ...table], null, 2));
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
      if (aims.length) printAims(aims);
    },
  };
}

/**
 * The issue's table: every row with its figure, its anchor's figure from the same run, the
 * ratio and the aim side by side, and whether this run met it.
 */
function printAims(aims: AimResult[]): void {
  const cells = aims.map((a) => [a.row, `${format(a.figure)} ${a.unit}`, `${a.anchor.name}: ${format(a.anchor.value)} ${a.unit}`, ratioText(a), aimText(a), a.met ? "met" : "NOT MET"]);
  const head = ["row", "figure", "anchor (same run)", "ratio", "aim", ""];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `  ${c.map((x, i) => (i === 1 || i === 3 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join("  ")}`.trimEnd();
  console.log(`\n${AIM_SECTION}`);
  console.log(line(head));
  for (const c of cells) console.log(line(c));
  for (const a of aims) if (a.note) console.log(`  · ${a.row}: ${a.note}`);
}

const AIM_SECTION = "issue 35 table: each figure against its anchor measured in the same run";

function ratioText(a: AimRow): string {
  return a.aim.at === "least" ? `${(a.ratio * 100).toFixed(0)}%` : `${a.ratio.toFixed(2)}x`;
}

function aimText(a: AimRow): string {
  return a.aim.at === "least" ? `≥ ${(a.aim.target * 100).toFixed(0)}%` : `≤ ${a.aim.target}x`;
}

function format(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString("en-US") : v >= 1 || v === 0 ? v.toFixed(2) : v.toPrecision(3);
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
