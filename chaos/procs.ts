import type { Subprocess } from "bun";

/** A child process whose stdout is read line by line (always drained, so it never blocks). */
export interface Child {
  proc: Subprocess<"pipe", "pipe", "inherit" | "ignore">;
  /** Resolves with the first line (from now on) that `match` accepts, or null after `ms`. */
  waitLine(match: (line: string) => boolean, ms: number): Promise<string | null>;
  send(text: string): void;
  /** How many stdout lines equal to `ok` it printed (acknowledged ops). */
  oks(): number;
  alive(): boolean;
  kill(signal?: "SIGKILL" | "SIGTERM"): Promise<void>;
}

export function spawnChild(cmd: string[], options: { verbose?: boolean; env?: Record<string, string> } = {}): Child {
  const proc = Bun.spawn(cmd, {
    stdin: "pipe",
    stdout: "pipe",
    stderr: options.verbose ? "inherit" : "ignore",
    env: { ...process.env, ...options.env },
  });
  let oks = 0;
  const waiters: { match: (l: string) => boolean; resolve: (l: string | null) => void }[] = [];
  (async () => {
    const reader = proc.stdout.getReader();
    const dec = new TextDecoder();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) break;
      text += dec.decode(value);
      let nl: number;
      while ((nl = text.indexOf("\n")) >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (line === "ok") oks++;
        for (let i = 0; i < waiters.length; i++) {
          if (waiters[i].match(line)) {
            waiters[i].resolve(line);
            waiters.splice(i--, 1);
          }
        }
      }
    }
    for (const w of waiters.splice(0)) w.resolve(null);
  })();
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    proc,
    alive,
    oks: () => oks,
    waitLine(match, ms) {
      if (!alive()) return Promise.resolve(null);
      return new Promise((resolve) => {
        const w = { match, resolve: (l: string | null) => (clearTimeout(timer), resolve(l)) };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          resolve(null);
        }, ms);
        waiters.push(w);
      });
    },
    send(text) {
      try {
        proc.stdin.write(text);
        proc.stdin.flush();
      } catch {
        // it died: the caller finds out by waiting
      }
    },
    async kill(signal = "SIGKILL") {
      if (alive()) proc.kill(signal);
      await proc.exited;
    },
  };
}
