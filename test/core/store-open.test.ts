import { expect, test } from "bun:test";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { Store } from "../../src/store/store.ts";

test("opening the local store on a server-only adapter is a config error that names it", async () => {
  const adapter = createPostgresAdapter({ url: "postgres://nobody@127.0.0.1:1/none" });
  const error = await Store.open({ adapter }).then(() => undefined, (e) => e);
  expect(error?.code).toBe("config");
  expect(error?.message).toContain("needs a SQLite adapter");
});
