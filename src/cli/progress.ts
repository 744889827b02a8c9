import type { CliContext } from "./context.ts";

/** A progress line on stderr for long jobs: only on a terminal, only after the first second. */
export interface Progress {
  /** Reports `done` units out of `total` (total unknown: a counter without a bar). */
  update(done: number, total?: number): void;
  /** Clears the line. */
  finish(): void;
}

export function progress(ctx: CliContext, label: string, unit: string): Progress {
  if (!ctx.io.stderrTTY || ctx.global.json) return { update() {}, finish() {} };
  const start = Date.now();
  // STOWAGE_PROGRESS_DELAY_MS only lets tests see the bar without a job that takes a second.
  const delay = Number(ctx.io.env.STOWAGE_PROGRESS_DELAY_MS ?? 1000);
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - start < delay || (lastDraw && now - lastDraw < 100)) return;
      lastDraw = now;
      drawn = true;
      const width = 30;
      let line = `${label} ${done.toLocaleString("en-US")} ${unit}`;
      if (total && total > 0) {
        const f = Math.min(1, done / total);
        const fill = Math.round(f * width);
        line = `${label} [${"#".repeat(fill)}${"-".repeat(width - fill)}] ${(f * 100).toFixed(0)}% ${done.toLocaleString("en-US")} ${unit}`;
      }
      ctx.io.err(`\r\x1b[2K${line}`);
    },
    finish() {
      if (drawn) ctx.io.err("\r\x1b[2K");
    },
  };
}
