import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { tempDir } from "../helpers/tmp.ts";
import { cli } from "./run.ts";

/**
 * `serve` checks its whole configuration before any side effect (issue 32): a refused value
 * exits 2 (usage) with one line naming the flag, or the environment variable it came from,
 * and the accepted form; the data file is not created, nothing is logged (no GC run, no
 * "shutdown: draining"), so no port was bound either.
 */
const tmp = tempDir("stowage-serve-config-");
afterAll(() => tmp.cleanup());

const SECRET_OK = "s".repeat(40);

/** [args, env, the stderr line expected (after "stowage: ")]. */
const CASES: [string[], Record<string, string>, string | RegExp][] = [
  [["--jwt-secret", "short"], {}, "--jwt-secret must be at least 32 bytes (a random string, e.g. openssl rand -base64 48), got 5"],
  [[], { STOWAGE_JWT_SECRET: "short" }, "STOWAGE_JWT_SECRET must be at least 32 bytes (a random string, e.g. openssl rand -base64 48), got 5"],
  [["--rate-limit", "banana"], {}, '--rate-limit must be RATE[,BURST] (requests per second per key, e.g. 10000,20000) or off, got "banana"'],
  [[], { STOWAGE_RATE_LIMIT: "banana" }, 'STOWAGE_RATE_LIMIT must be RATE[,BURST] (requests per second per key, e.g. 10000,20000) or off, got "banana"'],
  [["--max-body", "lots"], {}, '--max-body must be a size like 4MiB, 512KiB or 1000000 (bytes), got "lots"'],
  [["--max-doc", "0"], {}, '--max-doc must be at least 1 byte, got "0"'],
  [["--log-level", "loud"], {}, '--log-level must be one of debug, info, warn, error, off, got "loud"'],
  [["--log-format", "xml"], {}, '--log-format must be json or pretty, got "xml"'],
  [[], { STOWAGE_ADMIN_KEY: "short" }, "STOWAGE_ADMIN_KEY must be 16-500 characters without spaces, got 5 character(s)"],
  [["--admin-key", "has a space in it ok"], {}, "--admin-key must be 16-500 characters without spaces, got 20 character(s) with spaces"],
  [["--port", "abc"], {}, '--port must be a number, got "abc"'],
  [["--port", "70000"], {}, "--port must be a whole number 0-65535, got 70000"],
  [[], { STOWAGE_PORT: "1.5" }, "STOWAGE_PORT must be a whole number 0-65535, got 1.5"],
  [["--host", "not a host"], {}, '--host must be a host name or an IPv4/IPv6 address such as 127.0.0.1, 0.0.0.0 or ::, got "not a host"'],
  [["--tombstone-retention", "forever"], {}, '--tombstone-retention must be a duration like 500ms, 30s, 5m, 2h or 30d, got "forever"'],
  [["--gc-interval", "10ms"], {}, '--gc-interval must be at least 1s, got "10ms"'],
  [["--shutdown-timeout", "soon"], {}, '--shutdown-timeout must be a duration like 500ms, 30s, 5m, 2h or 30d, got "soon"'],
  [["--cors-origin", "app.example"], {}, '--cors-origin must be * or scheme://host[:port], got "app.example"'],
  [["--base-path", "sync path"], {}, '--base-path must be a path such as /sync (letters, digits and - . _ ~ in each segment), got "sync path"'],
  [["--jwt-audience", "app"], {}, "--jwt-audience needs --jwt-secret or --jwt-jwks"],
  [["--jwt-alg", "HS384"], {}, "--jwt-alg needs --jwt-secret or --jwt-jwks"],
  [["--no-api-keys"], {}, "--no-api-keys needs --jwt-secret or --jwt-jwks: nothing else could authenticate"],
  [["--console"], {}, /^--console needs an admin key/],
  [["--schema", "missing-schemas.json"], {}, /^--schema: cannot read "[^"]*missing-schemas.json": no such file$/],
  [["--metrics", "--log-level", "loud", "--rate-limit", "1"], {}, '--log-level must be one of debug, info, warn, error, off, got "loud"'],
];

describe("serve refuses a bad configuration before any side effect", () => {
  test.each(CASES.map((c, i) => [i, ...c] as const))("case %d: %p %p", async (i, args, env, expected) => {
    const dir = tmp.file(`case-${i}`);
    const data = `${dir}/x.db`;
    // --port 0 so a configuration let through would not take a fixed port (the env case tests STOWAGE_PORT).
    const port = env.STOWAGE_PORT === undefined && !args.includes("--port") ? ["--port", "0"] : [];
    const r = await cli(["serve", ...port, "--data", data, ...args], { env, cwd: tmp.path });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const message = lines[0].replace(/^stowage: /, "");
    if (typeof expected === "string") expect(message).toBe(expected);
    else expect(message).toMatch(expected);
    // No file, no directory for it: nothing was opened.
    expect(existsSync(data)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  test("--json: the refusal is one JSON line with exit 2 and code usage", async () => {
    const data = tmp.file("json/x.db");
    const r = await cli(["serve", "--json", "--port", "0", "--data", data, "--jwt-secret", "short"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: "usage", exit: 2, message: "--jwt-secret must be at least 32 bytes (a random string, e.g. openssl rand -base64 48), got 5" } });
    expect(readdirSync(tmp.path)).not.toContain("json");
  });
});
