/** The console bundle stays in step with its sources; serve --console refuses to run open. */
import { expect, test } from "bun:test";
import { ASSETS_MODULE, buildConsoleAssets } from "../../console/build.ts";

test("the committed console bundle (src/server/console/assets.ts) is up to date with console/: run bun run console:build", async () => {
  expect(await Bun.file(ASSETS_MODULE).text()).toBe(await buildConsoleAssets());
}, 30_000);

test("serve --console without an admin key refuses to start: exit 2 and a message naming STOWAGE_ADMIN_KEY", async () => {
  const { cli } = await import("../cli/run.ts");
  const dir = (await import("node:fs")).mkdtempSync(`${(await import("node:os")).tmpdir()}/stowage-console-flag-`);
  const r = await cli(["serve", "--console", "--port", "0", "--data", `${dir}/s.db`]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("--console needs an admin key: set STOWAGE_ADMIN_KEY");
}, 30_000);
