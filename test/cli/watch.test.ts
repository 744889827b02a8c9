import { afterAll, beforeAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/tmp.ts";
import { until } from "../helpers/until.ts";
import { BIN, ROOT, cli, ndjson, startServe, type ServeProcess } from "./run.ts";

const tmp = tempDir("stowage-cli-watch-");
const data = tmp.file("server.db");
let server: ServeProcess;
let key = "";

beforeAll(async () => {
  const made = await cli(["keys", "create", "--tenant", "acme", "--label", "ci", "--data", data, "--json"]);
  key = JSON.parse(made.stdout).key;
  server = await startServe(data);
}, 60_000); // two CLI processes; slow on a busy machine
afterAll(async () => {
  await server?.stop();
  tmp.cleanup();
});

const client = (name: string, ...args: string[]) => cli([...args, "--db", tmp.file(`${name}.db`), "--url", server.url, "--key", key]);

test("watch --json prints an NDJSON line per change another client makes, and exits 0 on SIGINT", async () => {
  const db = tmp.file("watcher.db");
  const watcher = Bun.spawn([process.execPath, BIN, "watch", "todos", "--json", "--where", "done=false", "--db", db, "--url", server.url, "--key", key], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: tmp.path, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  const reading = Promise.all([
    (async () => {
      for await (const chunk of watcher.stdout) out += dec.decode(chunk);
    })(),
    (async () => {
      for await (const chunk of watcher.stderr) err += dec.decode(chunk);
    })(),
  ]);
  try {
    // Ready once it says so on stderr: it has caught up with the server and taken its starting point.
    await until("the watcher has started", () => err.includes("watching todos"), 30_000);
    expect((await client("a", "put", "todos", '{"id":"t1","title":"milk","done":false}')).code).toBe(0);
    await until("the put line", () => out.includes('"t1"'), 20_000);
    expect((await client("a", "patch", "todos", "t1", '{"done":true}')).code).toBe(0); // leaves the filter
    expect((await client("a", "put", "other", '{"id":"o1"}')).code).toBe(0); // another collection: nothing
    await until("the delete line", () => out.split("\n").length >= 3, 20_000);
  } finally {
    watcher.kill("SIGINT");
  }
  expect(await watcher.exited).toBe(0);
  await reading;
  expect(ndjson(out)).toEqual([
    { collection: "todos", id: "t1", op: "put", doc: { id: "t1", title: "milk", done: false } },
    { collection: "todos", id: "t1", op: "delete", doc: null },
  ]);
}, 60_000);

test("watch without --initial prints only changes made after it started, never the backlog; --initial prints the backlog first", async () => {
  // A backlog the watcher's new, empty database has never seen.
  expect((await client("b", "put", "backlog", '{"id":"old1","n":1}')).code).toBe(0);
  expect((await client("b", "put", "backlog", '{"id":"old2","n":2}')).code).toBe(0);
  const run = async (initial: boolean) => {
    // Text output (the --json form is the test above): the old code printed "watching" here too, then the backlog.
    const args = ["watch", "backlog", ...(initial ? ["--initial"] : []), "--db", tmp.file(`backlog-${initial}.db`), "--url", server.url, "--key", key];
    const watcher = Bun.spawn([process.execPath, BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: tmp.path, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
    let out = "";
    let err = "";
    const dec = new TextDecoder();
    const reading = Promise.all([
      (async () => {
        for await (const chunk of watcher.stdout) out += dec.decode(chunk);
      })(),
      (async () => {
        for await (const chunk of watcher.stderr) err += dec.decode(chunk);
      })(),
    ]);
    try {
      await until("the watcher has started", () => err.includes("watching backlog"), 30_000);
      expect((await client("b", "put", "backlog", `{"id":"new-${initial}","n":3}`)).code).toBe(0);
      await until("the new document's line", () => out.includes(`backlog/new-${initial} `), 30_000);
    } finally {
      watcher.kill("SIGINT");
    }
    expect(await watcher.exited).toBe(0);
    await reading;
    return [...out.matchAll(/ (put|delete) backlog\/(\S+)/g)].map((m) => `${m[1]} ${m[2]}`);
  };
  // On the old code the first sync's pull printed "put old1" and "put old2" here.
  expect(await run(false)).toEqual(["put new-false"]);
  expect(await run(true)).toEqual(["put new-false", "put old1", "put old2", "put new-true"]); // the backlog in id order, then the news
}, 90_000);

test("watch: --help, and a usage error without a server", async () => {
  const help = await cli(["watch", "--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("watch <collection>");
  const bad = await cli(["watch", "todos", "--db", tmp.file("x.db")]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("watch needs a server");
}, 30_000);

test("sync --watch follows the live stream: another client's write is pulled with no interval due (60 s default)", async () => {
  const watcher = Bun.spawn([process.execPath, BIN, "sync", "--watch", "--json", "--db", tmp.file("syncwatch.db"), "--url", server.url, "--key", key], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: tmp.path, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of watcher.stdout) out += dec.decode(chunk);
  })();
  try {
    await until("the stream is up", () => out.includes('{"event":"live","connected":true}'), 30_000);
    expect((await client("c", "put", "streamed", '{"id":"s1"}')).code).toBe(0);
    await until("a pull of that write", () => ndjson(out).some((e) => e.event === "sync" && e.pulled >= 1), 30_000);
  } finally {
    watcher.kill("SIGINT");
  }
  expect(await watcher.exited).toBe(0);
  await reading;
}, 60_000);
