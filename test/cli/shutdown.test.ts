import { describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openServerStore } from "../../src/server/index.ts";
import { until } from "../helpers/until.ts";
import { openClient } from "../sync/clients.ts";
import { serveScope, type ServeChild } from "./ops-serve.ts";
import { ROOT } from "./run.ts";

/**
 * SIGTERM to a real `stowage serve` while keep-alive clients push (issue 32): the drain answers
 * what is running with `Connection: close`, refuses new requests with 503 + Retry-After, and
 * stops the listener only once clients were told, so no client sees a reset connection and
 * every acknowledged write is on disk.
 */
const scope = serveScope("stowage-shutdown-");
const { tmp, keyFor } = scope;

function serveAt(data: string, port?: number): Promise<ServeChild> {
  return scope.serveAt(data, ["--rate-limit", "off"], { port });
}

/** Documents of `tenant` on disk, read after every server process stopped. */
async function docIds(data: string, tenant: string): Promise<Set<string>> {
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: data }) });
  try {
    const t = await store.db.selectFrom("stowage_tenants").select("id").where("name", "=", tenant).executeTakeFirstOrThrow();
    const rows = await store.db.selectFrom("stowage_docs").select("id").where("tenant_id", "=", t.id).where("deleted", "=", 0).execute();
    return new Set(rows.map((r) => r.id));
  } finally {
    await store.close();
  }
}

/**
 * A push whose headers and first half are sent now and the rest on `finish()`: a request the
 * server is certainly running when SIGTERM arrives (its handler is waiting for the body).
 */
function heldPush(port: number, key: string): { finish(): Promise<{ status: number; head: string }>; socket: Socket } {
  const body = JSON.stringify({ clientId: "held-client", ops: [{ opId: 1, collection: "pushes", id: "held", op: "put", value: { held: true } }] });
  const half = Math.floor(body.length / 2);
  const socket = connect(port, "127.0.0.1");
  let answer = "";
  socket.setEncoding("utf8");
  socket.on("data", (c: string) => (answer += c));
  socket.write(`POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`);
  return {
    socket,
    async finish() {
      socket.write(body.slice(half));
      const ended = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      await until("the held push's answer", () => answer.includes("\r\n\r\n"), 30_000);
      await ended; // Connection: close: the server ends the socket after the answer
      return { status: Number(answer.split(" ")[1]), head: answer.split("\r\n\r\n")[0].toLowerCase() };
    },
  };
}

/** A keep-alive connection that asked once and then sits idle; records how it ended. */
async function idleConnection(port: number): Promise<{ ended(): Promise<string> }> {
  const socket = connect(port, "127.0.0.1");
  let answer = "";
  let how: string | undefined;
  socket.setEncoding("utf8");
  socket.on("data", (c: string) => (answer += c));
  socket.on("error", (e: NodeJS.ErrnoException) => (how ??= e.code ?? e.message));
  socket.on("end", () => (how ??= "end"));
  socket.on("close", () => (how ??= "close"));
  socket.write(`GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  await until("the idle connection's first answer", () => answer.includes("\r\n\r\n"), 30_000);
  expect(answer.toLowerCase()).not.toContain("connection: close");
  return { ended: async () => (await until("the idle connection to end", () => how, 30_000))! };
}

describe("SIGTERM while keep-alive clients push", () => {
  test("4 keep-alive push loops (node:http Agent), SIGTERM twice: no reset, 503s with Retry-After, every acknowledged write on disk", async () => {
    const data = tmp.file("keepalive.db");
    const key = await keyFor(data, "keepalive");
    let server = await serveAt(data);
    const port = server.port;
    const runner = Bun.which("node") ?? process.execPath;
    const pushers = Bun.spawn([runner, join(ROOT, "test/fixtures/keepalive-pushers.mjs"), server.url, key, "4"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    const acked: string[] = [];
    let summary: { status503: number; errors: Record<string, number>; connections: number } | undefined;
    let s503 = 0;
    const reading = (async () => {
      let buf = "";
      for await (const chunk of pushers.stdout as ReadableStream<Uint8Array>) {
        buf += new TextDecoder().decode(chunk);
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (line.ack) acked.push(line.ack);
          if (line.s503) s503 = line.s503;
          if (line.done) summary = line;
        }
      }
    })();
    // Round 0 is the plain case (SIGTERM with nothing or little running: the listener used to
    // stop at once and reset every keep-alive connection). Round 1 holds a request open, so
    // the drain certainly lasts and the loops' requests are certainly refused meanwhile.
    const drains: { round: number; requests: number; served503: number }[] = [];
    for (let round = 0; round < 2; round++) {
      const before = acked.length;
      await until("pushes flowing", () => acked.length >= before + 40, 60_000);
      const held = round === 1 ? heldPush(port, key) : undefined;
      const idle = await idleConnection(port);
      // Forty more round trips on other connections after the held request's bytes were
      // written: the server's event loop has read its headers and is running it.
      const mark = acked.length;
      if (held) await until("pushes after the held request", () => acked.length >= mark + 40, 60_000);
      const s503Before = s503;
      server.proc.kill("SIGTERM");
      if (held) {
        // The drain waits for the held request; meanwhile the loops' requests are refused.
        await until("a 503 while draining", () => s503 > s503Before, 30_000);
        const answer = await held.finish();
        expect(answer.status).toBe(200);
        expect(answer.head).toContain("connection: close");
      }
      expect(await server.proc.exited).toBe(0);
      // The server closed the idle keep-alive connection with a FIN, not a reset.
      expect(await idle.ended()).toBe("end");
      const logs = server.logs();
      const refused = logs.filter((l) => l.msg === "request" && l.status === 503);
      for (const r of refused) expect(r.route).toBe("/v1/push");
      // The drain counts what it refused; the request log agrees.
      expect(logs.find((l) => l.msg === "shutdown: drained")?.refused).toBe(refused.length);
      drains.push({ round, requests: logs.find((l) => l.msg === "shutdown: draining")?.requests, served503: refused.length });
      if (held) {
        expect(logs.find((l) => l.msg === "shutdown: draining")?.requests).toBeGreaterThanOrEqual(1);
        expect(refused.length).toBeGreaterThan(0);
      }
      server = await serveAt(data, port);
    }
    const last = acked.length;
    await until("pushes after the second restart", () => acked.length >= last + 40, 60_000);
    pushers.stdin.end();
    expect(await pushers.exited).toBe(0);
    await reading;
    await server.signal("SIGTERM");
    console.log(`keep-alive loops (${runner.endsWith("node") ? "node" : "bun"}): ${acked.length} acknowledged, ${summary?.status503} answers 503, ${summary?.connections} connections, errors ${JSON.stringify(summary?.errors)}; drains ${JSON.stringify(drains)}`);
    expect(summary?.errors).toEqual({});
    expect(summary!.status503).toBeGreaterThanOrEqual(2);
    const onDisk = await docIds(data, "keepalive");
    const missing = acked.filter((id) => !onDisk.has(id));
    expect(missing).toEqual([]);
    expect(onDisk.has("held")).toBe(true);
  }, 180_000);

  test("the library under load: SIGTERM and restart while 3 clients write and sync; the application sees no error and every write lands", async () => {
    const data = tmp.file("library.db");
    const key = await keyFor(data, "library");
    let server = await serveAt(data);
    const port = server.port;
    const clients = await Promise.all([0, 1, 2].map((n) => openClient(tmp.file(`lib-${n}.db`), server.url, key, { autoSync: true })));
    const failures: unknown[] = [];
    const issues: unknown[] = [];
    let running = true;
    let written = 0;
    const writers = clients.map(async (c, n) => {
      for (let i = 0; running; i++) {
        try {
          await c.collection("notes").put({ id: `c${n}-${i}`, n, i });
          written++;
        } catch (e) {
          failures.push(e);
        }
        if (i % 20 === 19) await Bun.sleep(5);
      }
    });
    for (let round = 0; round < 2; round++) {
      const mark = written;
      await until("writes flowing", () => written >= mark + 150, 60_000);
      expect(await server.signal("SIGTERM")).toBe(0);
      server = await serveAt(data, port);
    }
    const mark = written;
    await until("writes after the restarts", () => written >= mark + 150, 60_000);
    running = false;
    await Promise.all(writers);
    for (const c of clients) {
      await until("the outbox drained", async () => (await c.status()).outbox.size === 0, 60_000);
      issues.push(...(await c.issues()));
    }
    await server.signal("SIGTERM");
    expect(failures).toEqual([]);
    expect(issues).toEqual([]);
    const onDisk = await docIds(data, "library");
    expect(onDisk.size).toBe(written);
    for (const c of clients) await c.close();
  }, 180_000);
});
