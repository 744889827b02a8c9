import { StowageError, describeValue } from "../errors.ts";

/**
 * `basePath` as given to createServerHandler, normalized: "" (served at the root) or a path
 * like `/sync` (leading slash, no trailing one). Segments are checked so a typo fails at start.
 */
export function normalizeBasePath(basePath: string | undefined): string {
  if (basePath === undefined || basePath === "" || basePath === "/") return "";
  const trimmed = basePath.replace(/\/+$/, "");
  if (!/^(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+$/.test(trimmed)) {
    throw new StowageError("config", `invalid basePath ${describeValue(basePath)}: use a path such as /sync (letters, digits and - . _ ~ in each segment)`);
  }
  return trimmed;
}

/** The path under `basePath` (`/sync/v1/pull` → `/v1/pull`), or undefined when the request is outside it. */
export function stripBasePath(basePath: string, pathname: string): string | undefined {
  if (basePath === "") return pathname;
  if (pathname.length > basePath.length && pathname.startsWith(basePath) && pathname[basePath.length] === "/") return pathname.slice(basePath.length);
  return undefined;
}
