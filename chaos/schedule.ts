import type { ProxyFaults } from "./proxy.ts";
import { Rng } from "./prng.ts";
import { CHAOS_STORES, type Store } from "./stores.ts";

export type { Store };

export interface ClientSpec {
  /** SQLite file index; two specs may share one. */
  file: number;
  pullLimit: number;
  autoSync: boolean;
  syncIntervalMs: number;
  pauseMs: [number, number];
  /** Clock skew in ms (libfaketime when present, else the engine's injected clock). */
  skewMs: number;
  /** The live event stream (background sync only); off, the interval alone carries sync. */
  live: boolean;
}

export type Event =
  | { at: number; a: "kill-client"; c: number; when: "now" | "push" | "pull"; restartAfter: number }
  | { at: number; a: "kill-server"; s: number; restartAfter: number; skewMs: number }
  | { at: number; a: "faults"; c: number; faults: ProxyFaults }
  | { at: number; a: "heal"; c: number }
  | { at: number; a: "cut"; c: number }
  | { at: number; a: "gc" }
  | { at: number; a: "revoke" }
  | { at: number; a: "downgrade" }
  | { at: number; a: "restore" };

/**
 * Auth faults (issue 31). Clients take their bearer token from a file the runner rewrites
 * (their getToken reads it: at start, before a JWT's exp, after a 401). `key`: API keys; a
 * `revoke` issues a new write key and revokes the old one. `jwt`: HS256 tokens the runner
 * mints every third of `lifetimeS` (1-3 s), so they expire mid-push and mid-stream. Both:
 * `downgrade` switches to read-only credentials (the write key is revoked, or the scope
 * claim says `read`) and `restore` back; pushes meanwhile are refused and recorded.
 */
export interface AuthPlan {
  mode: "key" | "jwt";
  /** JWT lifetime, seconds. */
  lifetimeS: number;
}

export interface Schedule {
  seed: number;
  store: Store;
  keys: number;
  servers: number;
  serverSkewMs: number[];
  leaseTtlMs: number;
  clients: ClientSpec[];
  /** Length of the fault phase, ms; then everything heals and syncs to quiescence. */
  durationMs: number;
  events: Event[];
  /** The client op mix. */
  mix: "default" | "groups" | "rw";
  /** A strict collection: writes carry the version they saw, stale ones answer `conflict`. */
  strict: boolean;
  /**
   * Now and then a client writes a burst of 1,001-1,300 puts in one call, so its outbox holds
   * more than one push batch and the push is pipelined (a batch settled while the next is in
   * flight) under the run's faults. Never in planted-bug runs (their seeds stay as they were),
   * except with the `bursts` focus.
   */
  bursts: boolean;
  /** Each client incarnation writes a burst as its third op (the `bursts` focus), besides the chance ones. */
  burstEarly?: boolean;
  /** Seeds of each client incarnation's op stream and of the proxies' decisions. */
  seeds: number[];
  /** Auth faults, or null (planted-bug runs, --no-auth). */
  auth: AuthPlan | null;
}

/**
 * dup: lost answers and duplicated requests on every fault event; skew: two server processes
 * whose clocks disagree by minutes, never killed, and no live streams; groups: groups with patch members and deletes; pending: two processes on one
 * file and slow networks, so pulls land while edits are pending; bursts: every client
 * incarnation pushes several batches early (a burst of 1,001+ puts), so pipelined pushes are
 * certain rather than a matter of chance draws.
 */
export type Focus = "dup" | "skew" | "groups" | "pending" | "bursts";

export interface ScheduleOptions {
  /** Shorter runs for CI. */
  short?: boolean;
  /** Include tombstone GC (forced resets); default true. */
  gc?: boolean;
  /** Weights the draws toward one area (planted-bug runs): see `Focus`. */
  focus?: Focus;
  /** Auth faults (default true; never with a focus, so planted-bug seeds stay as they were). */
  auth?: boolean;
}

/** Everything a run does, drawn from the seed alone (same seed, same schedule). */
export function makeSchedule(seed: number, store: Store, options: ScheduleOptions = {}): Schedule {
  const rng = new Rng(seed);
  const nClients = rng.int(2, 4);
  const clients: ClientSpec[] = [];
  let files = 0;
  for (let i = 0; i < nClients; i++) {
    // Sometimes a second process on the first client's file (the sync lease decides who syncs).
    const shared = i > 0 && files > 0 && (rng.chance(0.2) || (options.focus === "pending" && i === 1));
    clients.push({
      file: shared ? 0 : files++,
      pullLimit: rng.int(1, 7),
      autoSync: rng.chance(0.75),
      syncIntervalMs: rng.int(30, 250),
      pauseMs: [rng.int(0, 10), rng.int(15, 60)],
      skewMs: rng.chance(0.3) ? rng.pick([-1, 1]) * rng.int(1, 120) * 1000 : 0,
      live: false,
    });
  }
  // Processes sharing a SQLite file are on one host (WAL needs shared memory), so they share
  // its clock: the sync lease compares the holder's expiry with the reader's clock. (Skewed
  // apart, each took the other's lease for expired: two pulls at once mixed one stage.)
  for (const c of clients) c.skewMs = clients.find((o) => o.file === c.file)!.skewMs;
  // Draws added later come from their own generator, so the older draws (and every schedule a
  // closing note or a bug report quotes by seed) stay as they were.
  const later = new Rng(seed ^ 0x51ee7);
  // With skew in focus, pulls must carry many changes each for a wrong page order to show:
  // a live client pulls after every commit, one change at a time.
  for (const c of clients) c.live = c.autoSync && later.chance(0.8) && options.focus !== "skew";
  // PostgreSQL: two instances over one schema (alwaysTwoServers). SQLite: sometimes two
  // processes on one file (BEGIN IMMEDIATE serializes their writes); always two, with clocks
  // apart, when skew is the focus. The draw is made for every store, so seeds stay as they were.
  const twoSqlite = rng.chance(0.3);
  const servers = CHAOS_STORES[store].alwaysTwoServers || twoSqlite || options.focus === "skew" ? 2 : 1;
  const serverSkewMs = Array.from({ length: servers }, (_, i) =>
    options.focus === "skew" ? (i === 0 ? -1 : 1) * rng.int(30, 300) * 1000 : rng.chance(0.3) ? rng.pick([-1, 1]) * rng.int(1, 120) * 1000 : 0,
  );
  const durationMs = options.short ? rng.int(1200, 2200) : rng.int(2000, 5000);
  const events: Event[] = [];
  let t = rng.int(100, 300);
  while (t < durationMs) {
    const r = rng.next();
    const f = options.focus;
    if (r < 0.18) {
      events.push({ at: t, a: "kill-client", c: rng.int(0, nClients - 1), when: rng.pick(["now", "push", "pull"] as const), restartAfter: rng.int(30, 400) });
    } else if (r < 0.3) {
      // With skew in focus the two servers' clocks already disagree; killing them would only
      // leave a short run with no server for most of it.
      const e = { at: t, a: "kill-server" as const, s: rng.int(0, servers - 1), restartAfter: rng.int(50, 500), skewMs: rng.chance(0.4) ? rng.pick([-1, 1]) * rng.int(1, 300) * 1000 : 0 };
      if (f !== "skew") events.push(e);
    } else if (r < 0.7) {
      const partition = rng.chance(0.25) ? rng.pick(["refuse", "blackhole"] as const) : null;
      events.push({
        at: t,
        a: "faults",
        c: rng.int(0, nClients - 1),
        faults: {
          dropRate: rng.chance(0.5) || f === "dup" ? rng.pick([0.1, 0.3, 0.6]) : 0,
          delayMs: rng.chance(0.5) || f === "pending" ? [0, rng.int(5, 120)] : [0, 0],
          partition: f === "dup" ? null : partition,
          dupRate: rng.chance(0.4) || f === "dup" ? rng.pick([0.2, 0.5]) : 0,
        },
      });
    } else if (r < 0.88) {
      events.push({ at: t, a: "heal", c: rng.int(0, nClients - 1) });
    } else if (options.gc !== false) {
      events.push({ at: t, a: "gc" });
    }
    t += rng.int(60, 350);
  }
  // Live streams cut mid-flight (a proxy restart): the client reconnects and misses nothing.
  for (let at = later.int(100, 400); at < durationMs; at += later.int(100, 600)) events.push({ at, a: "cut", c: later.int(0, nClients - 1) });
  events.sort((a, b) => a.at - b.at);
  const seeds = Array.from({ length: 64 }, () => rng.fork());
  const mix = options.focus === "groups" ? "groups" : options.focus === "pending" ? "rw" : "default";
  const keys = rng.int(3, 8);
  // Drawn from a generator of its own, so every other draw of a seed stays as it was before bursts.
  const bursts = options.focus === "bursts" || (!options.focus && new Rng(seed ^ 0x2545f491).chance(0.5));
  const strict = later.chance(0.25);
  const auth = options.auth !== false && !options.focus ? authFaults(seed, durationMs, events, serverSkewMs) : null;
  return { seed, store, keys, servers, serverSkewMs, leaseTtlMs: 3000, clients, durationMs, events, mix, seeds, strict, bursts, auth, ...(options.focus === "bursts" ? { burstEarly: true } : {}) };
}

/**
 * Draws the auth plan and its events from a generator of their own (the other draws stay as
 * they were). With JWTs the servers keep true time: a server minutes ahead would find every
 * token expired, which tests nothing but a stall (the token issuer is not the server's clock).
 */
function authFaults(seed: number, durationMs: number, events: Event[], serverSkewMs: number[]): AuthPlan {
  const rng = new Rng(seed ^ 0x0a17c0de);
  const plan: AuthPlan = { mode: rng.chance(0.5) ? "jwt" : "key", lifetimeS: rng.int(1, 3) };
  if (plan.mode === "jwt") {
    serverSkewMs.fill(0);
    for (const e of events) if (e.a === "kill-server") e.skewMs = 0;
  }
  for (let at = rng.int(200, 900); at < durationMs; at += rng.int(400, 1500)) {
    const r = rng.next();
    if (r < 0.4 && plan.mode === "key") events.push({ at, a: "revoke" });
    else if (r < 0.75) {
      events.push({ at, a: "downgrade" });
      events.push({ at: Math.min(durationMs - 1, at + rng.int(100, 700)), a: "restore" });
    }
  }
  events.sort((a, b) => a.at - b.at);
  return plan;
}

/** The schedule as lines a person can read next to the history. */
export function describeSchedule(s: Schedule): string {
  const lines = [
    `seed ${s.seed} on ${s.store}${s.mix === "default" ? "" : ` (op mix ${s.mix})`}${s.strict ? ", strict collection" : ""}${s.bursts ? ", bursts of 1,001+ puts" : ""}${s.auth ? `, auth by ${s.auth.mode === "jwt" ? `${s.auth.lifetimeS}-s JWTs` : "API keys"}` : ""}: ${s.clients.length} client processes, ${s.servers} server process(es) (skew ${s.serverSkewMs.join(", ")} ms), ${s.keys} keys, ${s.durationMs} ms of faults`,
    ...s.clients.map((c, i) => `  client ${i}: file ${c.file}, pullLimit ${c.pullLimit}, ${c.autoSync ? `background sync every ${c.syncIntervalMs} ms${c.live ? " + live stream" : ""}` : "explicit sync only"}, pause ${c.pauseMs[0]}-${c.pauseMs[1]} ms, clock skew ${c.skewMs} ms`),
    ...s.events.map((e) => `  @${e.at}ms ${describeEvent(e)}`),
  ];
  return lines.join("\n");
}

function describeEvent(e: Event): string {
  switch (e.a) {
    case "kill-client":
      return `SIGKILL client ${e.c}${e.when === "now" ? "" : ` mid-${e.when}`}, restart after ${e.restartAfter} ms`;
    case "kill-server":
      return `SIGKILL server ${e.s}, restart after ${e.restartAfter} ms with clock skew ${e.skewMs} ms`;
    case "faults":
      return `proxy ${e.c}: drop ${e.faults.dropRate}, delay ${e.faults.delayMs.join("-")} ms, duplicate ${e.faults.dupRate}${e.faults.partition ? `, partition (${e.faults.partition})` : ""}`;
    case "heal":
      return `proxy ${e.c}: healed`;
    case "cut":
      return `proxy ${e.c}: live streams cut`;
    case "gc":
      return "server tombstone gc (olderThanMs 0): clients behind it must reset";
    case "revoke":
      return "auth: a new write key issued, the old one revoked";
    case "downgrade":
      return "auth: credentials downgraded to read-only";
    case "restore":
      return "auth: write credentials restored";
  }
}
