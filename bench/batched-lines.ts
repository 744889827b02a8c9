/**
 * A child bench process's stdout, batched: the lines emitted in one burst (one microtask, or
 * what `schedule` gives) go out in one write, so hundreds of subscribers' reports cost one write
 * on the measured path, not hundreds.
 */
export function batchedLines(schedule: (flush: () => void) => void = queueMicrotask): (line: string) => void {
  const lines: string[] = [];
  let flushing = false;
  return (line) => {
    lines.push(line);
    if (flushing) return;
    flushing = true;
    schedule(() => {
      flushing = false;
      process.stdout.write(`${lines.splice(0).join("\n")}\n`);
    });
  };
}
