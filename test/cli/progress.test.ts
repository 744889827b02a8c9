import { afterAll, beforeAll, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { Store } from "../../src/store/store.ts";
import { tempDir } from "../helpers/tmp.ts";
import { BIN, ROOT, cli } from "./run.ts";

const tmp = tempDir("stowage-cli-progress-");
const db = tmp.file("p.db");
const script = Bun.which("script");

beforeAll(async () => {
  const store = await Store.open({ adapter: createBunSqliteAdapter({ path: db }) });
  await store.collection("docs").putMany(Array.from({ length: 3000 }, (_, i) => ({ id: `d${i}`, i })));
  await store.close();
});
afterAll(() => tmp.cleanup());

test.skipIf(!script)("a progress bar on a terminal's stderr, none when piped", async () => {
  const out = tmp.file("out.ndjson");
  // `script` gives the child a pseudo-terminal, as a person's shell would.
  const cmd = `${process.execPath} ${BIN} export --db ${db} --out ${out}`;
  const p = Bun.spawnSync([script!, "-qec", cmd, "/dev/null"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: tmp.path, STOWAGE_PROGRESS_DELAY_MS: "0", TERM: "xterm" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const tty = p.stdout.toString();
  expect(p.exitCode).toBe(0);
  expect(tty).toContain("export [");
  expect(tty).toMatch(/\] \d+% [\d,]+ docs/);
  expect(tty).toContain("exported 3000 documents");

  const piped = await cli(["export", "--db", db, "--out", out], { env: { STOWAGE_PROGRESS_DELAY_MS: "0" } });
  expect(piped.stderr).toBe(`exported 3000 documents to ${out}\n`);
});
