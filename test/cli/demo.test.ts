import { expect, test } from "bun:test";
import { cli } from "./run.ts";

test("demo: a server and two clients write, go offline, and converge", async () => {
  const r = await cli(["demo"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const lines = r.stdout.split("\n");
  expect(lines.filter((l) => l.includes("sync → server unreachable; 2 writes queued locally"))).toHaveLength(2);
  expect(lines.filter((l) => /^\s+(alice|bob)\s+has 2: jam, milk ✓$/.test(l))).toHaveLength(2);
  expect(r.stdout).toContain("converged: alice and bob hold identical data");
  expect(r.stdout).toContain('{"id":"milk","title":"buy milk","done":true,"note":"oat milk"}');
  expect(r.stdout).toContain("Try next");
});

test("demo --json ends with the converged documents", async () => {
  const r = await cli(["demo", "--json"]);
  const summary = JSON.parse(r.stdout.split("\n").find((l) => l.startsWith('{"converged"'))!);
  expect(summary.converged).toBe(true);
  expect(summary.docs.map((d: { id: string }) => d.id)).toEqual(["jam", "milk"]);
});
