import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTarget, HOST, writeChecksums } from "../../build.ts";
import pkg from "../../package.json" with { type: "json" };
import { tempDir } from "../helpers/tmp.ts";

/**
 * install.sh against a release folder made by build.ts (the executable and SHA256SUMS), served
 * by a static HTTP server on 127.0.0.1 under several prefixes: the folder as built, with the
 * executable tampered with, without SHA256SUMS, and with SHA256SUMS lacking the file's line.
 */
const ROOT = join(import.meta.dir, "..", "..");
const release = tempDir("stowage-release-");
const work = tempDir("stowage-install-");
const unix = HOST === "linux-x64" || HOST === "linux-arm64" || HOST === "darwin-x64" || HOST === "darwin-arm64";
let server: ReturnType<typeof Bun.serve> | undefined;
let exeName = "";

beforeAll(async () => {
  if (!unix) return;
  const built = await buildTarget(HOST!, release.path);
  expect(built).toMatchObject({ status: "ok" });
  exeName = built.file!.split("/").pop()!;
  writeChecksums(release.path, [built.file!]);
  const sums = readFileSync(join(release.path, "SHA256SUMS"), "utf8");
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const [, variant, name] = new URL(req.url).pathname.split("/");
      const file = Bun.file(join(release.path, name ?? ""));
      if (!name || name.includes("..") || !existsSync(join(release.path, name))) return new Response("not found", { status: 404 });
      if (name === "SHA256SUMS") {
        if (variant === "no-sums") return new Response("not found", { status: 404 });
        if (variant === "no-line") return new Response(sums.split("\n").filter((l) => !l.endsWith(`  ${exeName}`)).join("\n") + `${"0".repeat(64)}  stowage-other\n`);
      }
      // One byte appended: what a tampered or truncated-then-padded download looks like.
      if (variant === "tampered" && name === exeName) return new Response(new Blob([file, new Uint8Array([0])]));
      return new Response(file);
    },
  });
}, 120_000);
afterAll(() => {
  server?.stop(true);
  release.cleanup();
  work.cleanup();
});

/** Runs install.sh; asynchronously, since the server it downloads from runs in this process. */
async function install(variant: string, dir: string) {
  const run = Bun.spawn(["sh", join(ROOT, "install.sh"), "--dir", dir], {
    cwd: work.path,
    env: { PATH: "/usr/bin:/bin", HOME: work.path, STOWAGE_INSTALL_BASE: `${server!.url}${variant}/` },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text(), run.exited]);
  return { code, out, err };
}

test.skipIf(!unix)("a good release installs, runs, and says how to put it on PATH", async () => {
  const dir = join(work.path, "good", "bin");
  const r = await install("good", dir);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  expect(r.out).toContain(`Installed stowage ${pkg.version} (${exeName}, sha256 `);
  expect(r.out).toContain(`${dir} is not on your PATH`);
  expect(r.out).toContain(`export PATH="${dir}:$PATH"`);
  expect(readdirSync(dir)).toEqual(["stowage"]);
  const run = Bun.spawnSync([join(dir, "stowage"), "put", "todos", '{"id":"i1"}', "--db", join(work.path, "i.db")], { cwd: work.path, stdout: "pipe" });
  expect([run.exitCode, run.stdout.toString()]).toEqual([0, "i1\n"]);
  const about = JSON.parse(Bun.spawnSync([join(dir, "stowage"), "version", "--json"], { stdout: "pipe" }).stdout.toString());
  expect(about).toMatchObject({ version: pkg.version, target: HOST, libsql: "embedded" });
}, 60_000);

test.skipIf(!unix)("a tampered executable is refused with the two checksums, and nothing is installed", async () => {
  const dir = join(work.path, "tampered", "bin");
  const r = await install("tampered", dir);
  expect(r.code).toBe(1);
  expect(r.err).toMatch(new RegExp(`^stowage install: checksum mismatch for ${exeName}: SHA256SUMS says [0-9a-f]{64}, the download is [0-9a-f]{64}; it may be corrupt or tampered with \\(nothing installed\\)\\n$`));
  expect(existsSync(dir)).toBe(false);
}, 60_000);

test.skipIf(!unix)("a release without SHA256SUMS, or without the executable's line in it, is refused and nothing is installed", async () => {
  const none = join(work.path, "no-sums", "bin");
  const r = await install("no-sums", none);
  expect(r.code).toBe(1);
  // curl's own line says why (404), then ours.
  expect(r.err).toContain("404");
  expect(r.err).toEndWith(`\nstowage install: could not download ${server!.url}no-sums/SHA256SUMS; refusing to install an executable that cannot be verified (nothing installed)\n`);
  expect(existsSync(none)).toBe(false);

  const noLine = join(work.path, "no-line", "bin");
  const s = await install("no-line", noLine);
  expect(s.code).toBe(1);
  expect(s.err).toBe(`stowage install: SHA256SUMS at ${server!.url}no-line has no checksum for ${exeName}; refusing to install an executable that cannot be verified (nothing installed)\n`);
  expect(existsSync(noLine)).toBe(false);
}, 60_000);

test("SHA256SUMS lists each file by name in the format sha256sum -c reads", () => {
  const dir = tempDir("stowage-sums-");
  try {
    writeFileSync(dir.file("b.exe"), "bee");
    writeFileSync(dir.file("a"), "ay");
    const out = writeChecksums(dir.path, [dir.file("b.exe"), dir.file("a")]);
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: dir.path, stdout: "pipe" });
    expect(readFileSync(out, "utf8")).toMatch(/^[0-9a-f]{64} {2}a\n[0-9a-f]{64} {2}b\.exe\n$/);
    expect([check.exitCode, check.stdout.toString()]).toEqual([0, "a: OK\nb.exe: OK\n"]);
  } finally {
    dir.cleanup();
  }
});
