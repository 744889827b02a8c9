/**
 * Preloaded into the `stowage serve` child of the live profile (`bun --preload
 * bench/live-probe.ts …`, live-profile.ts): times the server's stages of each push from the
 * outside, without a line of src/ knowing. Records, as absolute times (performance.timeOrigin
 * + now(), comparable across processes on one machine, as live-subscribers.ts uses them):
 * `in` (the handler got a POST /v1/push), `begin` and `commit` (its write transaction's
 * statements returned), `enq` (a change event was queued on an event stream), `out` (the
 * handler answered). Preloaded into the writer child too (live-writer.ts), it records that
 * process's `send`/`resp` of each push, its commits, and the `put`/`putDone` marks the writer
 * makes. Written as JSON to BENCH_LIVE_PROBE_OUT when the process exits.
 */
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";

type Mark = [kind: string, at: number];
const marks: Mark[] = [];
const now = () => performance.timeOrigin + performance.now();
const out = process.env.BENCH_LIVE_PROBE_OUT;

const serve = Bun.serve;
(Bun as { serve: unknown }).serve = (options: Parameters<typeof Bun.serve>[0]) => {
  const o = options as { fetch: (req: Request, srv: unknown) => Response | Promise<Response> };
  const fetch = o.fetch;
  o.fetch = async (req, srv) => {
    const push = req.method === "POST" && req.url.includes("/v1/push");
    if (push) marks.push(["in", now()]);
    const res = await fetch(req, srv);
    if (push) marks.push(["out", now()]);
    return res;
  };
  return serve(options);
};

const prepare = Database.prototype.prepare;
Database.prototype.prepare = function (this: Database, sql: string, ...rest: unknown[]) {
  const stmt = (prepare as (...a: unknown[]) => ReturnType<Database["prepare"]>).call(this, sql, ...rest);
  const kind = /^begin/i.test(sql) ? "begin" : /^commit/i.test(sql) ? "commit" : undefined;
  if (kind) {
    const run = stmt.run.bind(stmt);
    stmt.run = ((...args: unknown[]) => {
      const r = run(...(args as []));
      marks.push([kind, now()]);
      return r;
    }) as typeof stmt.run;
  }
  return stmt;
} as typeof Database.prototype.prepare;

const enqueue = ReadableStreamDefaultController.prototype.enqueue;
ReadableStreamDefaultController.prototype.enqueue = function (this: ReadableStreamDefaultController, chunk?: unknown) {
  const r = enqueue.call(this, chunk);
  // "id: " opens a change event (events/sse.ts); heartbeats and `retry:` are not timed.
  if (chunk instanceof Uint8Array && chunk[0] === 0x69 && chunk[1] === 0x64) marks.push(["enq", now()]);
  return r;
};

// In the writer child (live-writer.ts): its push requests, and its puts through __benchMark.
const fetch0 = globalThis.fetch;
globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
  const push = String(input).includes("/v1/push");
  if (push) marks.push(["send", now()]);
  const res = await fetch0(input, init);
  if (push) marks.push(["resp", now()]);
  return res;
}) as typeof fetch;
(globalThis as { __benchMark?: (kind: string) => void }).__benchMark = (kind) => marks.push([kind, now()]);

process.on("exit", () => {
  if (out) writeFileSync(out, JSON.stringify(marks));
});
