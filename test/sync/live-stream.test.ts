import { describe, expect, test } from "bun:test";
import { HttpClient } from "../../src/sync/v1/http.ts";
import { LiveStream } from "../../src/sync/v1/live/stream.ts";
import { cursorSeq } from "../../src/protocol/cursor.ts";
import { SseParser, type SseMessage } from "../../src/sync/v1/live/sse.ts";
import { FakeClock } from "./fake-server.ts";

describe("SSE parser", () => {
  const STREAM = "retry: 2000\r\n\r\nid: 41\nevent: change\ndata: {\"seq\":41}\n\n: ping\n\nid: 42\r\nevent: change\r\ndata: {\"seq\":\r\ndata: 42}\r\n\r\ndata: no-id\n\nid: 43\n\n";

  test("every split of the same bytes gives the same messages (CR, LF, CRLF split anywhere)", () => {
    const expected: SseMessage[] = [
      { event: "change", data: '{"seq":41}', lastEventId: "41" },
      { event: "change", data: '{"seq":\n42}', lastEventId: "42" },
      { event: "message", data: "no-id", lastEventId: "42" },
    ];
    for (let cut = 0; cut <= STREAM.length; cut++) {
      for (const step of [1, 3, 7]) {
        const got: SseMessage[] = [];
        const retries: number[] = [];
        const p = new SseParser({ onMessage: (m) => got.push(m), onRetry: (ms) => retries.push(ms) });
        p.feed(STREAM.slice(0, cut));
        for (let i = cut; i < STREAM.length; i += step) p.feed(STREAM.slice(i, i + step));
        expect(got).toEqual(expected);
        expect(retries).toEqual([2000]);
        expect(p.lastEventId).toBe("43"); // an id-only block dispatches nothing but sets the id
      }
    }
  });

  test("cursorSeq reads v1.<seq> and nothing else", () => {
    expect(cursorSeq("v1.42")).toBe(42);
    expect(cursorSeq(null)).toBe(null);
    expect(cursorSeq("v2.42")).toBe(null);
    expect(cursorSeq("v1.x")).toBe(null);
  });
});

/** A fetch whose /v1/events answers are streams the test writes to (or a status code). */
function streamingFetch() {
  const opened: { headers: Record<string, string>; write(text: string): void; end(): void; aborted: boolean }[] = [];
  const answers: (number | "stream")[] = [];
  const fetch = async (_url: string, init?: RequestInit) => {
    const answer = answers.shift() ?? "stream";
    if (answer !== "stream") return new Response('{"error":{"code":"x","message":"no"}}', { status: answer });
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
    const entry = {
      headers: init?.headers as Record<string, string>,
      aborted: false,
      write: (text: string) => ctl.enqueue(new TextEncoder().encode(text)),
      end: () => ctl.close(),
    };
    init?.signal?.addEventListener("abort", () => {
      entry.aborted = true;
      ctl.error(new DOMException("aborted", "AbortError"));
    });
    opened.push(entry);
    return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
  };
  return { fetch, opened, answers };
}

const tick = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
};

describe("live stream (injected clock and fetch)", () => {
  test("pokes, heartbeat timeout, jittered reconnect with Last-Event-ID, stop leaves no timer", async () => {
    const clock = new FakeClock();
    const f = streamingFetch();
    const trace: string[] = [];
    const pokes: (number | null)[] = [];
    const ups: boolean[] = [];
    const live = new LiveStream({
      http: new HttpClient({ url: "http://fake", apiKey: "k", fetch: f.fetch }),
      clock,
      heartbeatTimeoutMs: 35_000,
      backoff: { random: () => 0 },
      onPoke: (s) => pokes.push(s),
      onConnected: (up) => ups.push(up),
      trace: (l) => trace.push(l),
    });
    live.start();
    await tick();
    expect(live.status()).toMatchObject({ enabled: true, connected: true, lastEventId: null });
    f.opened[0].write('retry: 2000\n\nid: 7\nevent: change\ndata: {"seq":7}\n\n');
    await tick();
    expect(pokes).toEqual([7]);
    expect(live.status()).toMatchObject({ connected: true, lastEventAt: clock.t, lastEventId: "7" });

    // Pings keep it alive past the timeout; silence kills it.
    clock.advance(30_000);
    f.opened[0].write(": ping\n\n");
    await tick();
    clock.advance(30_000);
    await tick();
    expect(trace).not.toContain("live:timeout");
    clock.advance(5_000);
    await tick();
    expect(trace).toContain("live:timeout");
    expect(f.opened[0].aborted).toBe(true);
    expect(live.status().connected).toBe(false);
    // The server's retry hint (2 s) is the base: half to all of it (random 0 → half).
    expect(clock.pending()).toEqual([1000]);

    clock.advance(1000);
    await tick();
    expect(f.opened[1].headers["last-event-id"]).toBe("7");
    expect(live.status().connected).toBe(true);

    // A refused connect (429) and a clean end both back off, doubling while it keeps failing.
    f.answers.push(429, 503);
    f.opened[1].end();
    await tick();
    expect(trace.slice(-2)).toEqual(["live:down", "live:retry:1000"]);
    clock.advance(1000);
    await tick();
    expect(trace.at(-1)).toBe("live:retry:2000");
    clock.advance(2000);
    await tick();
    expect(trace.at(-1)).toBe("live:retry:4000");
    clock.advance(4000);
    await tick();
    expect(live.status().connected).toBe(true);
    expect(ups).toEqual([true, false, true, false, true]);

    await live.stop();
    expect(f.opened[2].aborted).toBe(true);
    expect(clock.pending()).toEqual([]);
  });
});
