import { StowageError } from "../../src/errors.ts";

/**
 * Whether this process's connections keep a PostgreSQL session. Directly connected they do,
 * and the adapter uses what a session offers: statements prepared once per connection, and a
 * LISTEN connection for other instances' commits. Behind a pooler in transaction mode
 * (PgBouncer's `pool_mode = transaction`, most managed poolers) each transaction may run on
 * another server connection, so a prepared statement is missing or already there, and LISTEN
 * hears nothing. Declared (`?pooler=transaction`, `?pgbouncer=true`) the adapter starts
 * without them; otherwise the first sign of it (a prepared statement missing or duplicated,
 * a LISTEN that does not hear its own NOTIFY) turns them off for the process's life, logged
 * once with the setting that restores full speed.
 */
export class PostgresSession {
  #pooled: boolean;
  #declared: boolean;
  #log: (message: string) => void;
  #fns = new Set<(why: string) => void>();

  constructor(options: { pooled: boolean; log?: (message: string) => void }) {
    this.#pooled = this.#declared = options.pooled;
    this.#log = options.log ?? ((m) => console.warn(m));
  }

  /** True when connections may not keep a session (declared or detected). */
  get pooled(): boolean {
    return this.#pooled;
  }

  /** True when the URL said so (nothing to log then). */
  get declared(): boolean {
    return this.#declared;
  }

  /** Records that the connections keep no session; logs once, `why` saying what showed it. */
  lost(why: string): void {
    if (this.#pooled) return;
    this.#pooled = true;
    this.#log(
      `stowage: PostgreSQL connections do not keep a session (${why}): a pooler in transaction mode? ` +
        "Prepared statements are off and other instances' changes are polled. " +
        "Add ?pooler=transaction to the URL to start this way; for full speed connect directly (or give --listen-url a direct URL for live changes).",
    );
    for (const fn of this.#fns) fn(why);
  }

  /** Calls `fn` once connections are found to keep no session. */
  onLost(fn: (why: string) => void): () => void {
    this.#fns.add(fn);
    return () => void this.#fns.delete(fn);
  }
}

/** invalid_sql_statement_name (`prepared statement "x" does not exist`) and duplicate_prepared_statement. */
const SESSION_LOSS = new Set(["26000", "42P05"]);

/** The error a prepared statement meets when its connection's session is not the one that prepared it. */
export function isSessionLoss(e: unknown): boolean {
  return SESSION_LOSS.has((e as { code?: string })?.code ?? "");
}

/**
 * Failures of the database's availability rather than of a statement: the server is
 * restarting or gone (class 08, admin/crash shutdown, cannot connect now), out of
 * connections, or the socket broke. A request meeting one is answered 503 (retried by
 * clients), never 500.
 */
export function isUnavailable(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? "";
  if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300") return true;
  if (["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN"].includes(code)) return true;
  const message = String((e as Error)?.message ?? "");
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|server closed the connection|connection (?:is )?(?:closed|ended)|pgbouncer cannot connect|no more connections allowed|query_wait_timeout|server_login_retry/i.test(message);
}

/** `e` as the 503 the server core answers (src/server/handler.ts), or `e` itself. */
export function asUnavailable(e: unknown, why = "PostgreSQL is unavailable"): unknown {
  if (e instanceof StowageError || !isUnavailable(e)) return e;
  return new StowageError("storage", `${why}: ${(e as Error)?.message ?? String(e)}`, { cause: e, status: 503 });
}

/**
 * Looks once whether connections keep their session, before any statement depends on it:
 * client A reads its server process id, client B opens a transaction and reads its own, then
 * A reads again. Directly connected, A keeps its process and B has another. Behind a pooler
 * in transaction mode A's server went back to the pool after its first statement: B usually
 * gets that very one (PgBouncer hands out the most recently used), and A's second statement
 * another. Either sign is enough; a pooler that hides both is still caught later, by the first
 * prepared statement that goes missing. Answers what showed it, or undefined.
 */
export async function probeSession(connect: () => Promise<{ query(text: string): Promise<{ rows: { pid: number }[] }>; end(): Promise<void> }>): Promise<string | undefined> {
  const [a, b] = await Promise.all([connect(), connect()]);
  try {
    const pid = async (c: typeof a) => (await c.query("select pg_backend_pid() as pid")).rows[0].pid;
    const a1 = await pid(a);
    await b.query("begin");
    const b1 = await pid(b);
    // A pooler with every server busy makes A wait for B's transaction: that is no session either.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const a2 = await Promise.race([pid(a).catch(() => undefined), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 3000)))]);
    clearTimeout(timer);
    await b.query("rollback");
    if (b1 === a1) return "another connection's transaction ran on this one's server process";
    if (a2 !== a1) return "one connection's statements ran on different server processes";
    return undefined;
  } finally {
    await Promise.all([a.end().catch(() => {}), b.end().catch(() => {})]);
  }
}
