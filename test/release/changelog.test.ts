import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RELEASES } from "../compat/old-release.ts";

/** CHANGELOG.md keeps the shape release.yml cuts its notes from (Keep a Changelog, semver). */
const text = readFileSync(join(import.meta.dir, "..", "..", "CHANGELOG.md"), "utf8");

test("CHANGELOG.md: Unreleased first, then releases newest first with dates, each with a link and known sections", () => {
  const headings = [...text.matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$/gm)].map((m) => ({ name: m[1], date: m[2] as string | undefined }));
  expect(headings[0]).toEqual({ name: "Unreleased", date: undefined });
  const released = headings.slice(1);
  expect(released.map((h) => h.name)).toEqual(Object.keys(RELEASES).reverse());
  for (const h of released) {
    expect(h.name).toMatch(/^\d+\.\d+\.\d+$/);
    expect(h.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // Each release names the commit the compatibility tests run as that release.
    expect(text).toContain(`Commit \`${RELEASES[h.name as keyof typeof RELEASES].slice(0, 7)}\``);
  }
  for (const h of headings) expect(text).toMatch(new RegExp(`^\\[${h.name.replace(/\./g, "\\.")}\\]: https://`, "m"));
  const sections = new Set([...text.matchAll(/^### (.+)$/gm)].map((m) => m[1]));
  expect([...sections].filter((s) => !["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security", "Compatibility"].includes(s))).toEqual([]);
});

test("release.yml's notes step cuts exactly one release's section", () => {
  const workflow = readFileSync(join(import.meta.dir, "..", "..", ".github", "workflows", "release.yml"), "utf8");
  const awk = workflow.match(/awk -v v="\$\{GITHUB_REF_NAME#v\}" '([\s\S]*?)' CHANGELOG\.md/)![1];
  const run = Bun.spawnSync(["awk", "-v", "v=0.1.0", awk, "CHANGELOG.md"], { cwd: join(import.meta.dir, "..", ".."), stdout: "pipe" });
  const notes = run.stdout.toString();
  expect(notes).toStartWith("\nCommit `bc37e9b`, the first release.");
  expect(notes).not.toContain("## [");
  expect(notes).not.toContain("]: https://"); // the link definitions after the last release
  expect(notes).toContain("### Added");
});
