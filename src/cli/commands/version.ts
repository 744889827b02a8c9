import { PROTOCOL_VERSION } from "../../protocol/wire.ts";
import { buildInfo } from "../../runtime/build-info.ts";
import { runtimeVersion } from "../../runtime/runtime.ts";
import { serverSchemaVersions } from "../../server/schema.ts";
import { localSchemaVersion } from "../../store/migrations.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { printJson } from "../output.ts";

const USAGE = "version [--json]";

const version: Command = {
  usage: USAGE,
  summary: "this build: version, commit, target, protocol and schema versions",
  help: [
    "What to quote in a bug report, and what decides which versions work together (README,",
    "'Versions and upgrades'): the wire protocol versions this build speaks, and the newest",
    "local and server schema migrations it applies when it opens an older database.",
    "`stowage --version` prints the version alone.",
  ].join("\n"),
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    const build = buildInfo();
    const report = {
      version: ctx.io.version,
      commit: build?.commit ?? null,
      // A run from source (bun, node, deno, bunx) has no build target of its own.
      target: build?.target ?? "source",
      runtime: runtimeVersion(),
      protocols: [PROTOCOL_VERSION],
      schema: {
        local: localSchemaVersion(),
        server: serverSchemaVersions(),
      },
      libsql: build ? (build.libsql ? "embedded" : "absent") : "node_modules",
    };
    if (ctx.global.json) {
      printJson(ctx, report);
      return EXIT.ok;
    }
    const rows: [string, string][] = [
      ["version", report.version],
      ["commit", report.commit ?? "(not recorded: run from source)"],
      ["target", report.target],
      ["runtime", report.runtime],
      ["protocol", report.protocols.map((p) => `v${p}`).join(", ")],
      ["schema", `local ${report.schema.local}, server ${report.schema.server.sqlite} (SQLite) / ${report.schema.server.postgres} (PostgreSQL)`],
      ["libsql", report.libsql === "absent" ? "native addon not in this executable (--db file:/libsql:// exit 7)" : report.libsql],
    ];
    for (const [k, v] of rows) ctx.io.out(`${k.padEnd(9)} ${v}\n`);
    return EXIT.ok;
  },
};

export default version;
