import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { buildTarget, HOST } from "../../build.ts";
import pkg from "../../package.json" with { type: "json" };
import { startHranaServer, type HranaServer } from "../adapters/hrana-server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { cli, startServe, type ServeProcess } from "./run.ts";

const out = tempDir("stowage-bin-build-");
const one = tempDir("stowage-bin-a-");
const two = tempDir("stowage-bin-b-");
let server: ServeProcess | undefined;
let hrana: HranaServer | undefined;
let exeA = "";
let exeB = "";

/** True when some folder above `dir` (or `dir` itself) holds node_modules. */
function nodeModulesAbove(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules"))) return true;
    if (dirname(d) === d) return false;
  }
}

beforeAll(async () => {
  const built = await buildTarget(HOST!, out.path);
  expect(built).toMatchObject({ status: "ok" });
  const name = HOST === "windows-x64" ? "stowage.exe" : "stowage";
  exeA = join(one.path, name);
  exeB = join(two.path, name);
  copyFileSync(built.file!, exeA);
  copyFileSync(built.file!, exeB);
});
afterAll(async () => {
  await server?.stop();
  await hrana?.stop();
  for (const t of [out, one, two]) t.cleanup();
});

test.skipIf(!HOST)("the single executable serves, and a second copy puts, syncs and gets, with no node_modules anywhere", async () => {
  expect(nodeModulesAbove(one.path)).toBe(false);
  expect(nodeModulesAbove(two.path)).toBe(false);
  const inA = { exe: exeA, cwd: one.path };
  const inB = { exe: exeB, cwd: two.path };

  const version = await cli(["--version"], inA);
  expect(version.stdout).toMatch(/^stowage \d+\.\d+\.\d+\n$/);

  const data = join(one.path, "server.db");
  const made = await cli(["keys", "create", "--tenant", "bin", "--data", data, "--json"], inA);
  expect(made.code).toBe(0);
  const { key } = JSON.parse(made.stdout);
  server = await startServe(data, inA);

  const remote = ["--url", server.url, "--key", key];
  const writer = ["--db", join(two.path, "writer.db"), ...remote];
  expect(await cli(["put", "todos", '{"id":"x1","title":"from the binary"}', ...writer], inB)).toMatchObject({ code: 0, stdout: "x1\n" });
  const pushed = await cli(["sync", "--json", ...writer], inB);
  expect(pushed.code).toBe(0);
  // put pushed right after its local commit; sync finds nothing left to push.
  expect(JSON.parse(pushed.stdout)).toMatchObject({ pushed: 0, outbox: 0 });

  // A fresh database on the second copy pulls the document back from the server.
  const reader = ["--db", join(two.path, "reader.db"), ...remote];
  expect((await cli(["sync", ...reader], inB)).code).toBe(0);
  const got = await cli(["get", "todos", "x1", "--json", ...reader], inB);
  expect(got).toEqual({ code: 0, stdout: '{"id":"x1","title":"from the binary"}\n', stderr: "" });

  // The executable carries the conformance kit and serves the OpenAPI document.
  const kit = await cli(["conformance", server.url, "--key", key], inB);
  expect([kit.code, kit.stdout]).toEqual([0, expect.stringContaining("9 passed, 0 failed, 7 skipped")]);
  const openapi = await fetch(`${server.url}/v1/openapi.json`);
  expect(((await openapi.json()) as { openapi: string }).openapi).toBe("3.1.0");

  // The libsql native addon is inside the executable: a `file:` URL and a remote libsql
  // (Hrana over HTTP) database write and sync with no node_modules to load it from.
  const viaFile = ["--db", `file:${join(two.path, "l.db")}`, ...remote];
  expect(await cli(["put", "todos", '{"id":"l1","title":"libsql file"}', ...viaFile], inB)).toMatchObject({ code: 0, stdout: "l1\n" });
  expect(JSON.parse((await cli(["sync", "--json", ...viaFile], inB)).stdout)).toMatchObject({ outbox: 0 });
  hrana = startHranaServer({ path: join(one.path, "hrana.db") });
  const viaHrana = ["--db", hrana.url, ...remote];
  expect(await cli(["put", "todos", '{"id":"h1","title":"libsql remote"}', ...viaHrana], inB)).toMatchObject({ code: 0, stdout: "h1\n" });
  expect(JSON.parse((await cli(["sync", "--json", ...viaHrana], inB)).stdout)).toMatchObject({ outbox: 0 });
  expect(hrana.requests).toBeGreaterThan(0);
  expect((await cli(["sync", ...reader], inB)).code).toBe(0);
  const all = await cli(["list", "todos", "--json", ...reader], inB);
  expect(all.stdout.trim().split("\n").map((l) => JSON.parse(l).id).sort()).toEqual(["h1", "l1", "x1"]);
  // The remote libsql database holds the client's own copy, read back through the executable,
  // also by its libsql:// name (plain HTTP here: ?tls=0).
  expect(await cli(["get", "todos", "x1", "--json", ...viaHrana], inB)).toMatchObject({ code: 0, stdout: '{"id":"x1","title":"from the binary"}\n' });
  const libsqlUrl = `${hrana.url.replace("http://", "libsql://")}?tls=0`;
  expect(await cli(["get", "todos", "h1", "--json", "--db", libsqlUrl], inB)).toMatchObject({ code: 0, stdout: '{"id":"h1","title":"libsql remote"}\n' });

  const about = JSON.parse((await cli(["version", "--json"], inB)).stdout);
  expect(about).toMatchObject({ version: pkg.version, target: HOST, protocols: [1], libsql: "embedded" });
  expect(about.commit).toMatch(/^[0-9a-f]{40}(-dirty)?$/);
  expect(about.schema).toEqual({ local: expect.stringMatching(/^\d{4}_/), server: { sqlite: expect.stringMatching(/^\d{4}_/), postgres: expect.stringMatching(/^\d{4}_/) } });
});

test.skipIf(!HOST)("the single executable serves the browser console (serve --console) with no files beside it", async () => {
  const proc = Bun.spawn([exeA, "serve", "--console", "--port", "0", "--json", "--data", join(one.path, "console.db")], {
    cwd: one.path,
    env: { PATH: process.env.PATH ?? "", HOME: one.path, NO_COLOR: "1", STOWAGE_ADMIN_KEY: "binary-admin-key-0123456789" },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`serve --console exited early: ${await new Response(proc.stderr as ReadableStream).text()}`);
      text += new TextDecoder().decode(value);
    }
    void new Response(proc.stderr as ReadableStream).text().catch(() => "");
    const url = JSON.parse(text.split("\n")[0]).url.replace(/\/$/, "");
    const page = await fetch(`${url}/console`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/console/app.js">');
    const js = await fetch(`${url}/console/app.js`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const { CONSOLE_ASSETS } = await import("../../src/server/console/assets.ts");
    expect(await js.text()).toBe(CONSOLE_ASSETS.js);
    expect((await fetch(`${url}/console/api/session`)).status).toBe(401);
    expect((await fetch(`${url}/console/api/session`, { headers: { authorization: "Bearer binary-admin-key-0123456789" } })).status).toBe(200);
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}, 30_000);

test.skipIf(!HOST)("an executable built without the libsql addon says so for file: and libsql URLs (exit 7) and works otherwise", async () => {
  const bare = tempDir("stowage-bin-nolibsql-");
  try {
    const built = await buildTarget(HOST!, bare.path, { libsql: false });
    expect(built).toMatchObject({ status: "ok", libsql: false });
    const at = { exe: built.file!, cwd: bare.path };
    const said = await cli(["get", "todos", "x1", "--db", `file:${join(bare.path, "l.db")}`], at);
    expect(said.code).toBe(7);
    expect(said.stderr).toContain(`needs libsql, whose native addon this build does not include (this executable (${HOST}) has no libsql native addon: built with --no-libsql)`);
    expect(JSON.parse((await cli(["version", "--json"], at)).stdout).libsql).toBe("absent");
    expect(await cli(["put", "todos", '{"id":"p1"}', "--db", join(bare.path, "plain.db")], at)).toMatchObject({ code: 0, stdout: "p1\n" });
  } finally {
    bare.cleanup();
  }
}, 120_000);
