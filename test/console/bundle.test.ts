import { expect, test } from "bun:test";
import { ASSETS_MODULE, buildConsoleAssets } from "../../console/build.ts";

test("the committed console bundle (src/server/console/assets.ts) is up to date with console/: run bun run console:build", async () => {
  expect(await Bun.file(ASSETS_MODULE).text()).toBe(await buildConsoleAssets());
}, 30_000);
