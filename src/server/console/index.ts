/**
 * The browser console of `stowage serve --console`: static assets at /console (bundled into
 * assets.ts by `bun run console:build`, so the single executable needs no files beside it) and
 * the admin JSON API at /console/api/…
 *
 * Login: the page holds the admin key in memory and sends it as `Authorization: Bearer` on
 * every API call. No cookie is ever set, so another site cannot make the browser send an
 * authenticated request (no CSRF), and the key is never in a URL. The price: a reload asks
 * for the key again. The pages carry a strict CSP (no inline script, no eval, same origin
 * only), nosniff and frame-ancestors 'none'.
 */
import { errorResponse, HttpError, json } from "../http.ts";
import { constantTimeEqual } from "../keys.ts";
import { consoleApi } from "./api.ts";
import type { ConsoleOptions } from "./options.ts";
import { CONSOLE_ASSETS } from "./assets.ts";
import { ChangeStreams } from "./changes.ts";

export type { ConsoleOptions };

export const CONSOLE_PATH = "/console";

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export type ConsoleHandler = ((req: Request) => Promise<Response>) & {
  /** True for paths the console answers. */
  owns(pathname: string): boolean;
  /** Ends open change streams (shutdown). */
  close(): void;
};

export function createConsoleHandler(o: ConsoleOptions): ConsoleHandler {
  if (!/^\S{16,500}$/.test(o.adminKey)) throw new Error("the console needs an admin key of at least 16 characters");
  const streams = new ChangeStreams();
  const onError = o.onError ?? ((e: unknown) => console.error("stowage console:", e));

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === CONSOLE_PATH || path === `${CONSOLE_PATH}/` || path === `${CONSOLE_PATH}/index.html`) return asset("html", req);
    if (path === `${CONSOLE_PATH}/app.js`) return asset("js", req);
    if (path === `${CONSOLE_PATH}/app.css`) return asset("css", req);
    if (!path.startsWith(`${CONSOLE_PATH}/api/`)) throw new HttpError(404, "not_found", `no console page ${JSON.stringify(path.slice(0, 100))}`);
    const match = /^Bearer +(\S{1,500})$/i.exec(req.headers.get("authorization")?.trim() ?? "");
    if (!match || !constantTimeEqual(match[1], o.adminKey)) {
      throw new HttpError(401, "unauthorized", "the console needs Authorization: Bearer <admin key> (serve --admin-key); tenant keys never open it", {
        headers: { "www-authenticate": 'Bearer realm="stowage-admin"' },
      });
    }
    let parts: string[];
    try {
      parts = path.slice(`${CONSOLE_PATH}/api/`.length).split("/").map(decodeURIComponent);
    } catch {
      throw new HttpError(400, "bad_request", "the path is not valid percent-encoding");
    }
    return consoleApi(req, parts, url, o, streams);
  }

  function asset(kind: "html" | "js" | "css", req: Request): Response {
    if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "method_not_allowed", `${req.method} is not allowed here`, { headers: { allow: "GET, HEAD" } });
    const type = kind === "html" ? "text/html; charset=utf-8" : kind === "js" ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
    return new Response(req.method === "HEAD" ? null : CONSOLE_ASSETS[kind], { status: 200, headers: { "content-type": type } });
  }

  const handler = async (req: Request): Promise<Response> => {
    let res: Response;
    try {
      res = await handle(req);
    } catch (e) {
      if (e instanceof HttpError) res = errorResponse(e);
      else {
        onError(e);
        res = json({ error: { code: "internal", message: "the console failed to handle the request" } }, 500);
      }
    }
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
    return res;
  };
  return Object.assign(handler, {
    owns: (pathname: string) => pathname === CONSOLE_PATH || pathname.startsWith(`${CONSOLE_PATH}/`),
    close: () => streams.close(),
  });
}
