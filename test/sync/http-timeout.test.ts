import { afterAll, expect, test } from "bun:test";
import { isStowageError } from "../../src/errors.ts";
import { HttpClient } from "../../src/sync/v1/http.ts";

// The request timeout covers the whole exchange, the answer's body included: a server (or a
// proxy) that sends the headers and then nothing must not hold a sync, and its lease, forever.

const servers: { stop(force?: boolean): unknown }[] = [];
afterAll(() => {
  for (const s of servers) s.stop(true);
});

/** A server that answers 200 with the start of a JSON body, then stalls with the connection open. */
function stallingServer(): string {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"results":['));
          },
        }),
        { headers: { "content-type": "application/json" } },
      ),
  });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

test("an answer whose body stalls after the headers fails the request as a transport error at the timeout", async () => {
  const http = new HttpClient({ url: stallingServer(), apiKey: "k", timeoutMs: 300 });
  for (const call of [() => http.push('{"clientId":"c","ops":[]}'), () => http.pull(null, 10), () => http.getDoc("t", "x")]) {
    const started = performance.now();
    const error = await call().then(() => null, (e: unknown) => e);
    const took = performance.now() - started;
    expect(isStowageError(error, "transport")).toBe(true);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(5000);
  }
});
