import { afterAll } from "bun:test";
import { startServer, type TestServer } from "./server.ts";
import { tempDir } from "./tmp.ts";

/**
 * What an integration test file sets up first: a temp dir, cleanups run in reverse once the
 * file's tests are done (then the dir goes), numbered database file names, and in-process
 * servers stopped with the rest. Call it at the file's top level (it registers afterAll).
 */
export function testScope(prefix: string): {
  dir: ReturnType<typeof tempDir>;
  /** Runs `fn` after the file's tests, before anything deferred earlier. */
  defer: (fn: () => Promise<unknown> | unknown) => void;
  /** `<stem><n>.db` in the dir, n counting up across the file. */
  file: (stem: string) => string;
  /** An in-process server (startServer), stopped after the file's tests. */
  server: () => Promise<TestServer>;
} {
  const dir = tempDir(prefix);
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  let n = 0;
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    dir.cleanup();
  });
  return {
    dir,
    defer: (fn) => void cleanups.push(fn),
    file: (stem) => dir.file(`${stem}${n++}.db`),
    server: async () => {
      const s = await startServer();
      cleanups.push(() => s.stop());
      return s;
    },
  };
}
