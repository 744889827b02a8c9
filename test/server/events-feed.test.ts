import { describe, expect, test } from "bun:test";
import type { CommitChanges } from "../../src/server/events/changes.ts";
import { ChangeFeed, LISTEN_GRACE_MS, listenerSource, type ChangeSource, type PokeListener } from "../../src/server/events/feed.ts";
import { EventStreams } from "../../src/server/events/sse.ts";
import { POSTGRES } from "../../src/server/sql/index.ts";

/** The fan-out and the stream writer on their own, without HTTP. */
describe("ChangeFeed", () => {
  test("delivers only rising seqs, per tenant, to every subscriber; a throwing subscriber hurts no other", () => {
    const feed = new ChangeFeed();
    const a: number[] = [];
    const b: number[] = [];
    const other: number[] = [];
    feed.subscribe("t1", () => {
      throw new Error("boom");
    });
    feed.subscribe("t1", (s) => a.push(s));
    const stopB = feed.subscribe("t1", (s) => b.push(s));
    feed.subscribe("t2", (s) => other.push(s));
    feed.publish("nobody", 5);
    feed.publish("t1", 3);
    feed.publish("t1", 3);
    feed.publish("t1", 2);
    feed.publish("t1", 4);
    stopB();
    stopB();
    feed.publish("t1", 9);
    expect(a).toEqual([3, 4, 9]);
    expect(b).toEqual([3, 4]);
    expect(other).toEqual([]);
    expect(feed.subscribers).toBe(3);
    expect(feed.tenants().sort()).toEqual(["t1", "t2"]);
  });

  test("LISTEN pokes wait the grace: this process's own publish with changes wins over its NOTIFY; other pokes arrive after it, coalesced", async () => {
    const fns = new Set<(p: { seq?: number }) => void>();
    const listener: PokeListener = {
      subscribe: (_t, fn) => (fns.add(fn), () => void fns.delete(fn)),
      close: async () => {},
    };
    const notify = (seq?: number) => fns.forEach((fn) => fn({ seq }));
    let reads = 0;
    const feed = new ChangeFeed({ source: listenerSource(listener), readSeq: async () => (reads++, 7) });
    const got: string[] = [];
    feed.subscribe("t", (seq, changes) => got.push(`${seq}${changes ? "+changes" : ""}`));
    const commit = { prev: 0, seq: 1, rows: [], dialect: POSTGRES } as unknown as CommitChanges;
    notify(1); // the NOTIFY of our own commit, ahead of the committing request
    feed.publish("t", 1, commit);
    notify(2); // another instance's commits
    notify(3);
    expect(got).toEqual(["1+changes"]);
    await Bun.sleep(LISTEN_GRACE_MS + 20);
    expect(got).toEqual(["1+changes", "3"]);
    notify(); // after a reconnect: read at once
    await Bun.sleep(1);
    expect(reads).toBe(1);
    expect(got).toEqual(["1+changes", "3", "7"]);
    notify(9);
    await feed.close(); // a held poke dies with its watch
    await Bun.sleep(LISTEN_GRACE_MS + 20);
    expect(got).toEqual(["1+changes", "3", "7"]);
  });

  test("a poke without seq reads it: many pokes during a read cost one more read, not one each", async () => {
    let reads = 0;
    let seq = 10;
    const gate: (() => void)[] = [];
    const feed = new ChangeFeed({
      readSeq: async () => {
        reads++;
        await new Promise<void>((r) => gate.push(r));
        return seq;
      },
    });
    const got: number[] = [];
    feed.subscribe("t", (s) => got.push(s));
    for (let i = 0; i < 50; i++) feed.publish("t");
    expect(reads).toBe(1);
    seq = 12;
    gate.shift()!();
    for (let i = 0; i < 20 && reads < 2; i++) await Bun.sleep(1);
    expect(reads).toBe(2);
    gate.shift()!();
    for (let i = 0; i < 20 && got.length < 2; i++) await Bun.sleep(1);
    expect(got).toEqual([12]); // the first read answered 12 too (seq moved before it resolved)
    expect(reads).toBe(2);
  });

  test("watches a tenant on the source while it has subscribers; close() stops all and closes the source", async () => {
    const log: string[] = [];
    const pokes = new Map<string, (seq?: number) => void>();
    const source: ChangeSource = {
      watch(t, poke) {
        log.push(`watch ${t}`);
        pokes.set(t, poke);
        return () => log.push(`stop ${t}`);
      },
      close: () => void log.push("close"),
    };
    const feed = new ChangeFeed({ source, readSeq: async () => 42 });
    const got: number[] = [];
    const s1 = feed.subscribe("t1", (s) => got.push(s));
    feed.subscribe("t1", () => {});
    feed.subscribe("t2", () => {});
    pokes.get("t1")!(7);
    pokes.get("t1")!();
    for (let i = 0; i < 20 && got.length < 2; i++) await Bun.sleep(1);
    expect(got).toEqual([7, 42]);
    s1();
    await feed.close();
    expect(log).toEqual(["watch t1", "watch t2", "stop t1", "stop t2", "close"]);
    expect(feed.subscribers).toBe(0);
    feed.subscribe("t3", () => {}); // after close: a no-op
    expect(log.length).toBe(5);
  });
});

describe("EventStreams", () => {
  test("a client that does not read gets the latest seq when it reads again: rising, coalesced, nothing lost at the end", async () => {
    const feed = new ChangeFeed();
    const streams = new EventStreams(feed);
    const res = await streams.open({ tenantId: "t", keyId: "k" }, async () => 0);
    const reader = res.body!.getReader();
    for (let seq = 1; seq <= 500; seq++) feed.publish("t", seq);
    let text = "";
    while (!text.includes('{"seq":500}')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    streams.close();
    // The last event says reconnect (shutdown), then the body ends.
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('retry: 1000\nevent: reconnect\ndata: {"reason":"shutting_down"}\n\n');
    expect((await reader.read()).done).toBe(true);
    const seqs = [...text.matchAll(/data: \{"seq":(\d+)\}/g)].map((m) => Number(m[1]));
    expect(seqs[0]).toBe(0);
    expect(seqs.at(-1)).toBe(500);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1])).toBe(true);
    expect(seqs.length).toBeLessThan(20); // queue room, not one per commit
    expect(streams.size).toBe(0);
  });

  test("shutdown flushes a seq still waiting for room, then says reconnect, before the body ends", async () => {
    const feed = new ChangeFeed();
    const streams = new EventStreams(feed);
    const res = await streams.open({ tenantId: "t", keyId: "k" }, async () => 0);
    for (let seq = 1; seq <= 100; seq++) feed.publish("t", seq);
    streams.close();
    const text = await res.text();
    expect(text.endsWith('id: 100\nevent: change\ndata: {"seq":100}\n\nretry: 1000\nevent: reconnect\ndata: {"reason":"shutting_down"}\n\n')).toBe(true);
  });

  test("a stream whose client stops reading is ended after two heartbeats with a full queue; a reading one is kept", async () => {
    const feed = new ChangeFeed();
    const streams = new EventStreams(feed, { heartbeatMs: 30 });
    const stuck = await streams.open({ tenantId: "t", keyId: "k" }, async () => 0);
    const live = await streams.open({ tenantId: "t", keyId: "k" }, async () => 0);
    const reader = live.body!.getReader();
    let liveText = "";
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        liveText += new TextDecoder().decode(value);
      }
    })();
    for (let seq = 1; seq <= 50; seq++) feed.publish("t", seq);
    for (let i = 0; i < 100 && streams.size > 1; i++) await Bun.sleep(10);
    expect(streams.size).toBe(1);
    const stuckText = await stuck.text(); // ended: the body closes after what was queued
    expect(stuckText.endsWith('data: {"seq":50}\n\n')).toBe(true);
    await Bun.sleep(100);
    expect(streams.size).toBe(1);
    expect(liveText).toContain('data: {"seq":50}');
    streams.close();
    await reading;
  });

  test("a reading client gets every seq in order", async () => {
    const feed = new ChangeFeed();
    const streams = new EventStreams(feed);
    const res = await streams.open({ tenantId: "t", keyId: "k" }, async () => 5);
    const reader = res.body!.getReader();
    const seqs: number[] = [];
    const dec = new TextDecoder();
    const readSome = async () => {
      const { value } = await reader.read();
      for (const m of dec.decode(value).matchAll(/data: \{"seq":(\d+)\}/g)) seqs.push(Number(m[1]));
    };
    await readSome(); // retry
    await readSome(); // initial 5
    for (let seq = 6; seq <= 30; seq++) {
      feed.publish("t", seq);
      await readSome();
    }
    expect(seqs).toEqual(Array.from({ length: 26 }, (_, i) => i + 5));
    await reader.cancel();
    expect(streams.size).toBe(0);
    expect(feed.subscribers).toBe(0);
  });
});
