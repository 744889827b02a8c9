import { constantTimeEqual } from "../keys.ts";
import type { ClientActivity } from "./clients.ts";
import { Cors, isPreflight } from "./cors.ts";
import type { ServerHooks } from "./hooks.ts";
import { errorFields, silentLogger, type Logger } from "./log.ts";
import { METRICS_CONTENT_TYPE, type ServerMetrics } from "./metrics.ts";
import { routeTemplate } from "./routes.ts";

export type Handler = (req: Request) => Promise<Response>;

export interface OpsOptions {
  /** Request lines and server errors. Default: silent. */
  logger?: Logger;
  /** Series to count into; absent: nothing is counted. */
  metrics?: ServerMetrics;
  /**
   * Serves `GET /metrics` when `open` (anyone who reaches the port may read it) or when
   * `adminKey` is set (then only with `Authorization: Bearer <adminKey>`; tenant keys never
   * open it). Neither: /metrics is an unknown route (404).
   */
  metricsAccess?: { open?: boolean; adminKey?: string };
  /** Origins allowed to call from a browser (`*` for any); empty or absent: CORS off. */
  corsOrigins?: readonly string[];
  /** Records last push/pull per client (stowage clients). */
  activity?: ClientActivity;
  /** Wall clock in ms (client activity times). */
  now?: () => number;
}

/** Logs, metrics, request ids, CORS and draining around the web-standard handler. */
export interface ServerOps {
  /** Pass to createServerHandler({ hooks }) so requests are labelled by tenant and counted. */
  readonly hooks: ServerHooks;
  /** Pass to createServerHandler({ onError }): logs unexpected failures with their stack. */
  onError(e: unknown): void;
  /** Wraps the handler; the result is again `(Request) => Promise<Response>`. */
  wrap(handler: Handler): Handler;
  /**
   * Graceful shutdown, step one: new requests answer 503 `shutting_down` (with Retry-After and
   * `Connection: close`), requests already running finish and their answers carry
   * `Connection: close` too. Once none is running it keeps answering so until no request came
   * for a moment (LINGER), so a keep-alive client learns to close its connection from an
   * answer instead of finding it reset. Resolves then, or after `timeoutMs`, with the number
   * of requests still running.
   */
  drain(timeoutMs: number): Promise<number>;
  /** Requests being handled now (streams count until their headers are sent). */
  readonly inFlight: number;
  /** Requests answered 503 `shutting_down` since the drain began. */
  readonly refused: number;
}

const SANE_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

/**
 * After running requests finished, the drain waits until no request arrived for `quietMs`, at
 * most `maxMs`: a keep-alive client sending in a loop gets one answer with `Connection: close`
 * on each of its connections (so it closes them itself), and its retries 503s, instead of a
 * reset from a listener that closed under its next request. Clients that honour Retry-After
 * (1 s) fall silent within one quiet window.
 */
const LINGER = { quietMs: 250, maxMs: 2_000 };

export function createServerOps(options: OpsOptions = {}): ServerOps {
  const log = options.logger ?? silentLogger;
  const m = options.metrics;
  const now = options.now ?? Date.now;
  const cors = options.corsOrigins?.length ? new Cors(options.corsOrigins) : undefined;
  const access = options.metricsAccess ?? {};
  const metricsOn = m !== undefined && (access.open === true || (access.adminKey ?? "") !== "");
  const tenants = new WeakMap<Request, string>();
  let inFlight = 0;
  let draining = false;
  let lastArrival = 0;
  let refused = 0;
  let idle: (() => void) | undefined;
  m?.registry.gauge("stowage_http_requests_in_flight", "Requests being handled now.", () => inFlight);

  const hooks: ServerHooks = {
    authenticated(req, principal) {
      tenants.set(req, principal.tenantId);
    },
    pushed(_req, tenantId, clientId, results) {
      if (m) for (const r of results) m.pushOps.inc({ outcome: r.status });
      options.activity?.pushed(tenantId, clientId, now());
    },
    wrote(_req, _tenantId, source, result) {
      m?.docWrites.inc({ source, result });
    },
    pulled(_req, tenantId, clientId, page) {
      if (m) {
        if (page.changes) m.pullChanges.inc({}, page.changes);
        if (page.reset) m.pullResets.inc();
      }
      if (clientId && !page.reset) options.activity?.pulled(tenantId, clientId, now(), page.cursor);
    },
  };

  function scrape(req: Request): Response {
    if (access.adminKey) {
      const match = /^Bearer +(\S{1,500})$/i.exec(req.headers.get("authorization")?.trim() ?? "");
      if (!match || !constantTimeEqual(match[1], access.adminKey)) {
        return jsonResponse(401, { error: { code: "unauthorized", message: "GET /metrics needs Authorization: Bearer <admin key> (serve --admin-key)" } }, { "www-authenticate": 'Bearer realm="stowage-admin"' });
      }
    }
    if (req.method !== "GET") return jsonResponse(405, { error: { code: "method_not_allowed", message: `${req.method} is not allowed on /metrics` } }, { allow: "GET" });
    return new Response(m!.registry.text(), { status: 200, headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" } });
  }

  function wrap(handler: Handler): Handler {
    return async (req) => {
      const started = performance.now();
      const given = req.headers.get("x-request-id");
      const requestId = given !== null && SANE_ID.test(given) ? given : crypto.randomUUID();
      let path = "/";
      try {
        path = new URL(req.url).pathname;
      } catch {
        // A URL the runtime accepted but we cannot parse is labelled `other` below.
      }
      const route = routeTemplate(path);
      inFlight++;
      lastArrival = performance.now();
      let res: Response;
      try {
        if (cors && isPreflight(req)) res = cors.preflight(req);
        else if (draining) {
          refused++;
          res = jsonResponse(503, { error: { code: "shutting_down", message: "the server is shutting down; retry shortly" } }, { "retry-after": "1", connection: "close" });
        } else if (metricsOn && path === "/metrics") res = scrape(req);
        else res = await handler(req);
      } catch (e) {
        // The handler never rejects; this guards against a bug in a wrapper or hook.
        log.error("server error", { requestId, ...errorFields(e) });
        res = jsonResponse(500, { error: { code: "internal", message: "the server failed to handle the request" } });
      } finally {
        inFlight--;
        if (inFlight === 0) idle?.();
      }
      // While draining every answer closes its connection, so no keep-alive socket outlives the listener.
      res = withHeaders(res, { "x-request-id": requestId, ...(cors?.headers(req) ?? {}), ...(draining ? { connection: "close" } : {}) });
      const seconds = (performance.now() - started) / 1000;
      const status = res.status;
      if (m) {
        m.requests.inc({ method: req.method, route, status: String(status) });
        m.duration.observe({ method: req.method, route }, seconds);
        if (status >= 500 && status !== 503) m.storeErrors.inc();
      }
      const fields = { method: req.method, route, status, ms: Math.round(seconds * 100_000) / 100, tenant: tenants.get(req), requestId };
      if (status >= 500 && status !== 503) log.error("request", fields);
      else log.info("request", fields);
      return res;
    };
  }

  return {
    hooks,
    onError: (e) => log.error("server error", errorFields(e)),
    wrap,
    get inFlight() {
      return inFlight;
    },
    get refused() {
      return refused;
    },
    async drain(timeoutMs) {
      draining = true;
      const started = performance.now();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        idle = undefined;
        if (inFlight > 0) return inFlight;
      }
      const end = performance.now() + Math.min(LINGER.maxMs, Math.max(0, started + timeoutMs - performance.now()));
      for (;;) {
        const t = performance.now();
        const quietUntil = lastArrival + LINGER.quietMs;
        if ((t >= quietUntil && inFlight === 0) || t >= end) break;
        await new Promise((resolve) => setTimeout(resolve, Math.max(10, Math.min(quietUntil, end) - t)));
      }
      return inFlight;
    },
  };
}

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers } });
}

/** Adds headers; a response with immutable headers (e.g. one from fetch) is copied first. */
function withHeaders(res: Response, headers: Record<string, string>): Response {
  try {
    for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
    return res;
  } catch {
    const copy = new Response(res.body, res);
    for (const [k, v] of Object.entries(headers)) copy.headers.set(k, v);
    return copy;
  }
}
