import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { StowageError } from "../../src/errors.ts";
import { Store } from "../../src/store/store.ts";
import { tempDir } from "../helpers/tmp.ts";
import { startHranaServer } from "./hrana-server.ts";

const dir = tempDir();
afterAll(() => dir.cleanup());

describe("libsql adapter options", () => {
  test("encryptionKey is passed through: the file holds no plaintext and opens only with the key", async () => {
    const path = dir.file("secret.db");
    const store = await Store.open({ adapter: createLibsqlAdapter({ url: `file:${path}`, encryptionKey: "correct horse" }) });
    await store.collection("notes").put({ id: "n1", text: "plaintext-marker-7f3a" });
    await store.close();

    expect(readFileSync(path).includes("plaintext-marker-7f3a")).toBe(false);
    for (const encryptionKey of [undefined, "wrong key"]) {
      const error = await Store.open({ adapter: createLibsqlAdapter({ url: `file:${path}`, encryptionKey }) }).then(
        () => undefined,
        (e) => e,
      );
      expect(error).toBeInstanceOf(StowageError);
      expect((error as StowageError).code).toBe("storage");
      expect((error as StowageError).message).toContain("not a database");
    }
    const again = await Store.open({ adapter: createLibsqlAdapter({ url: `file:${path}`, encryptionKey: "correct horse" }) });
    expect(await again.collection("notes").get("n1")).toEqual({ id: "n1", text: "plaintext-marker-7f3a" });
    await again.close();
  });

  test("a bare path means a local file, and the pragmas are applied (WAL)", async () => {
    const path = dir.file("bare.db");
    const adapter = createLibsqlAdapter({ url: path });
    expect(adapter.location).toBe(`file:${path}`);
    const store = await Store.open({ adapter });
    await store.collection("c").put({ id: "a" });
    const mode = await store.db.executeQuery({ sql: "pragma journal_mode", parameters: [], query: { kind: "RawNode" } as any, queryId: { queryId: "q" } } as any);
    expect(mode.rows).toEqual([{ journal_mode: "wal" }]);
    await store.close();
    expect(readFileSync(path).length).toBeGreaterThan(0);
  });

  test("integers bind as SQLite integers, as on bun:sqlite and node:sqlite (libsql alone would send REAL)", async () => {
    const store = await Store.open({ adapter: createLibsqlAdapter({ url: ":memory:" }) });
    const q = { sql: "select typeof(?) as a, typeof(?) as b, json_array(?, ?) as j", parameters: [5, 2.5, 7, 0.5], query: { kind: "RawNode" } as any, queryId: { queryId: "q" } };
    expect((await store.db.executeQuery(q as any)).rows).toEqual([{ a: "integer", b: "real", j: "[7,0.5]" }]);
    await store.close();
  });

  test("capabilities: file, memory and remote declare what each can do", () => {
    const caps = (url: string) => createLibsqlAdapter({ url }).capabilities;
    expect(caps("file:x.db")).toEqual({ sql: "sqlite", persistent: true, multiProcess: true, savepoints: true, fts5: true });
    expect(caps(":memory:")).toEqual({ sql: "sqlite", persistent: false, multiProcess: false, savepoints: true, fts5: true });
    expect(caps("libsql://db.example.turso.io")).toEqual({ sql: "sqlite", persistent: true, multiProcess: false, savepoints: true, fts5: false });
  });

  test("a remote URL's credentials never reach location", () => {
    const adapter = createLibsqlAdapter({ url: "libsql://user:pw@db.example.turso.io?authToken=SECRET", authToken: "OTHER" });
    expect(adapter.location).toBe("libsql://db.example.turso.io");
    expect(createLibsqlAdapter({ url: "https://db.example.com/" }).location).toBe("https://db.example.com");
    expect(createLibsqlAdapter({ url: "https://db.example.com/base/?authToken=x#frag" }).location).toBe("https://db.example.com/base");
  });

  test("an encryption key with a remote URL is a config error, not a silent no-op", () => {
    expect(() => createLibsqlAdapter({ url: "libsql://db.example.turso.io?authToken=SECRET", encryptionKey: "k" })).toThrow(
      "encryptionKey applies to local files only, not to the remote URL libsql://db.example.turso.io",
    );
  });

  test("an empty url is a config error naming the value", () => {
    expect(() => createLibsqlAdapter({ url: "" })).toThrow(/libsql url must be .* got ""/);
    try {
      createLibsqlAdapter({ url: " " });
    } catch (e) {
      expect((e as StowageError).code).toBe("config");
    }
  });

  test("an unreachable remote server fails open with a storage error, not a hang", async () => {
    // Port 9 (discard) on loopback refuses connections.
    const error = await Store.open({ adapter: createLibsqlAdapter({ url: "http://127.0.0.1:9", authToken: "t" }) }).then(
      () => undefined,
      (e) => e,
    );
    expect(error).toBeInstanceOf(StowageError);
    expect((error as StowageError).code).toBe("storage");
  });

  test("remote: the auth token is sent, a wrong one is refused, and no stream outlives a transaction", async () => {
    const server = startHranaServer({ path: dir.file("remote.db"), authToken: "right" });
    try {
      const refused = await Store.open({ adapter: createLibsqlAdapter({ url: server.url, authToken: "wrong" }) }).then(
        () => undefined,
        (e) => e,
      );
      expect((refused as StowageError).code).toBe("storage");
      expect((refused as StowageError).message).toContain("401");

      const store = await Store.open({ adapter: createLibsqlAdapter({ url: server.url, authToken: "right" }) });
      await store.transaction(async (tx) => {
        await tx.collection("c").put({ id: "a", n: 1 });
        await tx.collection("c").put({ id: "b", n: 2 });
      });
      await store
        .transaction(async (tx) => {
          await tx.collection("c").put({ id: "c", n: 3 });
          throw new Error("undo");
        })
        .catch(() => {});
      expect((await store.collection("c").list()).items.map((d) => d.id)).toEqual(["a", "b"]);
      expect(server.openStreams).toBe(0);
      await store.close();
    } finally {
      await server.stop();
    }
  });

  test("remote: a libsql:// URL (HTTP with ?tls=0) reaches the same server, and location hides the token", async () => {
    const server = startHranaServer({ path: dir.file("libsql-url.db"), authToken: "tok" });
    try {
      const url = `${server.url.replace("http://", "libsql://")}?tls=0`;
      const adapter = createLibsqlAdapter({ url, authToken: "tok" });
      expect(adapter.location).toBe(server.url.replace("http://", "libsql://"));
      const store = await Store.open({ adapter });
      await store.collection("c").put({ id: "via-libsql-url" });
      await store.close();
      expect(server.requests).toBeGreaterThan(0);
      // The token may also ride in the URL (as `--db libsql://…?authToken=…` on the CLI).
      const again = await Store.open({ adapter: createLibsqlAdapter({ url: `${server.url}?authToken=tok` }) });
      expect(await again.collection("c").get("via-libsql-url")).toEqual({ id: "via-libsql-url" });
      await again.close();
    } finally {
      await server.stop();
    }
  });
});
