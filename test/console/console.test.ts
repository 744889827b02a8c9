/**
 * The browser console end to end: a real `stowage serve --console` child process, Debian's
 * chromium driven by playwright-core, a real client (openStowage on bun-sqlite) syncing with
 * a key made in the browser. Every page is screenshotted; with STOWAGE_SCREENSHOTS=1 the shots
 * replace docs/console/ (README: Console), otherwise they go to the run's temporary directory,
 * so that a test run leaves the checkout as it found it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { ROOT, startServe, type ServeProcess } from "../cli/run.ts";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "console-admin-key-0123456789";
const KEEP_SHOTS = process.env.STOWAGE_SCREENSHOTS === "1";
const have = existsSync(CHROMIUM);
if (!have && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);
if (!have) console.warn(`skipping console tests: ${CHROMIUM} not found (apt-get install chromium)`);

let dir: string;
let url: string;
let serveProc: ServeProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let client: Stowage | undefined;
const cspErrors: string[] = [];

beforeAll(async () => {
  if (!have) return;
  dir = mkdtempSync(join(tmpdir(), "stowage-console-"));
  serveProc = await startServe(join(dir, "server.db"), {
    cwd: dir,
    args: ["--console"],
    env: { HOME: dir, STOWAGE_ADMIN_KEY: ADMIN, STOWAGE_LOG_LEVEL: "warn" },
  });
  url = serveProc.url.replace(/\/$/, "");
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
  });
}, 60_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await browser?.close().catch(() => {});
  if (serveProc) {
    await serveProc.stop();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: join(KEEP_SHOTS ? join(ROOT, "docs", "console") : dir, `${name}.png`) });
const nav = (name: string) => page.getByRole("navigation", { name: "Pages" }).getByRole("button", { name }).click();

test.skipIf(!have)("a wrong admin key is refused: a visible message in the page, 401 from the API; the pages carry a strict CSP", async () => {
  const res = await fetch(`${url}/console`);
  expect(res.status).toBe(200);
  const csp = res.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("unsafe-inline");
  expect(csp).not.toContain("unsafe-eval");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect((await fetch(`${url}/console/api/tenants`)).status).toBe(401);
  expect((await fetch(`${url}/console/api/tenants`, { headers: { authorization: "Bearer wrong-admin-key-000000" } })).status).toBe(401);

  await page.goto(`${url}/console`);
  await page.getByLabel("Admin key").fill("wrong-admin-key-000000");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert").textContent()).resolves.toContain("That admin key was refused");
  await shot("login");
}, 20_000);

test.skipIf(!have)("log in, create a tenant and a key; a client syncs with it; its document shows in the browser, is edited there and the edit reaches the client", async () => {
  await page.getByLabel("Admin key").fill(ADMIN);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Tenants" }).waitFor();
  await page.getByLabel("New tenant name").fill("acme");
  await page.getByRole("button", { name: "Create tenant" }).click();
  await page.getByText("Tenant acme created.").waitFor();
  await page.getByLabel("Label").fill("laptop");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-key").textContent())!;
  expect(key).toMatch(/^stw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  await shot("tenants");
  // A tenant key never opens the console's API.
  expect((await fetch(`${url}/console/api/tenants`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);

  client = await openStowage({ adapter: createBunSqliteAdapter({ path: join(dir, "client.db") }), url, apiKey: key, syncIntervalMs: 60_000 });
  const todos = client.collection("todos");
  await todos.put({ id: "t1", title: "from the client", done: false });
  await client.sync();

  await nav("Documents");
  await page.getByRole("button", { name: "t1" }).click();
  const editor = page.getByLabel("Document JSON");
  expect(JSON.parse(await editor.inputValue())).toEqual({ id: "t1", title: "from the client", done: false });
  await shot("documents");
  await editor.fill(JSON.stringify({ id: "t1", title: "edited in the console", done: true }, null, 2));
  await page.getByRole("button", { name: "Save document" }).click();
  await page.getByText(/Saved todos\/t1 as version \d+/).waitFor();

  await client.sync();
  expect(await todos.get("t1")).toEqual({ id: "t1", title: "edited in the console", done: true });
}, 30_000);

test.skipIf(!have)("the live change feed shows a client's write within a second", async () => {
  await nav("Live changes");
  await page.getByTestId("feed-state").getByText("live").waitFor();
  await client!.collection("todos").put({ id: "t2", title: "watched live" });
  await client!.sync(); // the write is committed on the server when this resolves
  const seen = Date.now();
  await page.getByText("todos/t2").waitFor({ timeout: 1000 });
  expect(Date.now() - seen).toBeLessThan(1000);
  await shot("changes");
}, 20_000);

test.skipIf(!have)("clients with their lag, metrics charts, and a phone-sized screen", async () => {
  await nav("Clients");
  // The server records client activity in a batched write once per second.
  await page.locator("tbody td code").first().waitFor({ timeout: 5000 });
  expect(await page.locator("tbody tr").count()).toBe(1);
  await shot("clients");
  await nav("Metrics");
  // Some traffic to chart: the client writes and syncs while the page samples (every 2 s).
  for (let i = 0; i < 8; i++) {
    await client!.collection("todos").put({ id: `m${i}`, n: i });
    await client!.sync();
    await Bun.sleep(500);
  }
  await page.waitForFunction(() => (document.querySelector("polyline")?.getAttribute("points") ?? "").split(" ").length >= 3, undefined, { timeout: 8000 });
  expect(await page.locator("figure.chart").count()).toBe(4);
  await shot("metrics");
  await page.setViewportSize({ width: 390, height: 844 });
  await nav("Documents");
  await page.getByRole("button", { name: "t1" }).click();
  await page.getByLabel("Document JSON").waitFor();
  await shot("phone-documents");
  await page.setViewportSize({ width: 1280, height: 800 });
  expect(cspErrors).toEqual([]);
}, 25_000);
