import { describeValue } from "../errors.ts";
import { parseRestConfigText, type RestConfig } from "../sync/rest/config.ts";
import { UsageError } from "./args.ts";
import type { CliContext } from "./context.ts";

/**
 * Reads `--rest FILE` / STOWAGE_REST. Without a key (`--key`, STOWAGE_API_KEY or `apiKey` in
 * the file) and without `"auth": "none"`, it is a usage error that says why: the library's
 * "no key = local mode" would queue every write forever with nothing to tell the user.
 */
export async function loadRestConfig(ctx: CliContext, path: string): Promise<RestConfig> {
  const config = parseRestConfigText(await ctx.io.readText(path), `file ${describeValue(path)}`);
  if (config.auth !== "none" && !(typeof config.apiKey === "string" && config.apiKey.trim()) && !ctx.global.key) {
    throw new UsageError(
      `the REST config ${describeValue(path)} needs a key: pass --key KEY, set STOWAGE_API_KEY, or put "apiKey" in the file; for an API without auth set "auth": "none" in the file`,
    );
  }
  return config;
}
