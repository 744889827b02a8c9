import { createReadStream, createWriteStream, readFileSync, statSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import type { StowageAdapter } from "../adapter.ts";
import { StowageError, describeValue } from "../errors.ts";
import type { CliIo, Writer } from "./context.ts";
import { CliFailure } from "./output.ts";
import { runtimeName } from "../runtime/runtime.ts";
import { defaultDbPath, defaultServerDbPath, ensureParentDir, makeTempDir } from "../runtime/paths.ts";

/** The CLI's window on the process: stdio, files, the SQLite driver of this runtime. */
export function createProcessIo(version: string, self: string): CliIo {
  // `stowage export | head` closes the pipe early: stop quietly, as Unix tools do.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    stdoutTTY: process.stdout.isTTY === true,
    stderrTTY: process.stderr.isTTY === true,
    env: process.env,
    async readText(path) {
      if (path === "-") {
        let text = "";
        for await (const line of lines(process.stdin)) text += `${line}\n`;
        return text;
      }
      try {
        return readFileSync(path, "utf8");
      } catch (e) {
        throw fileError(path, e);
      }
    },
    readLines(path) {
      if (path === "-") return lines(process.stdin);
      try {
        statSync(path);
      } catch (e) {
        throw fileError(path, e);
      }
      return lines(createReadStream(path));
    },
    async openWriter(path) {
      if (path === "-") return writer(process.stdout, false);
      ensureParentDir(path);
      const stream = createWriteStream(path);
      await new Promise<void>((resolve, reject) => stream.once("open", () => resolve()).once("error", (e) => reject(fileError(path, e))));
      return writer(stream, true);
    },
    fileSize(path) {
      try {
        return path === "-" ? undefined : statSync(path).size;
      } catch {
        return undefined;
      }
    },
    sqliteAdapter: openSqliteAdapter,
    defaultDbPath: () => defaultDbPath(process.env),
    defaultServerDbPath: () => defaultServerDbPath(process.env),
    tempDir: makeTempDir,
    onInterrupt(fn) {
      process.once("SIGINT", fn);
      process.once("SIGTERM", fn);
    },
    version,
    self,
  };
}

const REMOTE = /^(libsql|https?|wss?):\/\//i;

/**
 * bun:sqlite on Bun, node:sqlite on Node and Deno; libsql for `libsql://` and `file:` URLs.
 * Adapters load lazily, so commands that never open libsql work without its native addon.
 */
async function openSqliteAdapter(path: string): Promise<StowageAdapter> {
  if (REMOTE.test(path) || path.startsWith("file:")) {
    try {
      const { createLibsqlAdapter } = await import("../../adapters/libsql/index.ts");
      return createLibsqlAdapter({ url: path });
    } catch (e) {
      throw new CliFailure(
        7,
        `--db ${describeValue(path)} needs libsql, whose native addon this build does not include (${String((e as Error).message).split("\n")[0]}); ` +
          `use a plain file path, or run the package with bunx / npm where @libsql/client is installed`,
        { cause: e },
      );
    }
  }
  if (!REMOTE.test(path)) ensureParentDir(path);
  if (runtimeName() === "bun") {
    const { createBunSqliteAdapter } = await import("../../adapters/bun-sqlite/index.ts");
    return createBunSqliteAdapter({ path });
  }
  const { createNodeSqliteAdapter } = await import("../../adapters/node-sqlite/index.ts");
  return createNodeSqliteAdapter({ path });
}

function fileError(path: string, e: unknown): StowageError {
  const code = (e as { code?: string }).code;
  const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (e as Error).message;
  return new StowageError("input", `cannot read ${describeValue(path)}: ${why}`, { cause: e });
}

/** Lines of a stream, decoded incrementally: memory holds one chunk and one partial line. */
async function* lines(stream: Readable | NodeJS.ReadStream): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += typeof chunk === "string" ? chunk : decoder.decode(chunk as Uint8Array, { stream: true });
    let nl = rest.indexOf("\n");
    let start = 0;
    while (nl >= 0) {
      yield rest.slice(start, nl).replace(/\r$/, "");
      start = nl + 1;
      nl = rest.indexOf("\n", start);
    }
    rest = rest.slice(start);
  }
  rest += decoder.decode();
  if (rest.length) yield rest.replace(/\r$/, "");
}

function writer(stream: Writable | NodeJS.WriteStream, owned: boolean): Writer {
  return {
    async write(text) {
      if (!stream.write(text)) await new Promise<void>((resolve) => stream.once("drain", () => resolve()));
    },
    async close() {
      if (owned) await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    },
  };
}
