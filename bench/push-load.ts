/** Push load shared by the server benches: bodies of new documents, and one push request. */

/** A push body: `size` new todos for client `client`, batch `b` (op ids continue across batches). */
export function batch(client: number, b: number, size: number): string {
  return JSON.stringify({
    clientId: `bench-client-${client}`,
    ops: Array.from({ length: size }, (_, i) => {
      const n = b * size + i + 1;
      return { opId: n, collection: "todos", id: `c${client}-${n}`, op: "put", value: { title: `todo ${n}`, done: n % 3 === 0, n, tags: ["a", "b"] } };
    }),
  });
}

/** Sends one push and fails loudly on anything but 200 (a bench must not time refusals). */
export async function post(url: string, key: string, body: string): Promise<void> {
  const res = await fetch(`${url}/v1/push`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
  if (res.status !== 200) throw new Error(`push answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}
