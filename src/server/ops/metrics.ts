/**
 * Prometheus text exposition (format 0.0.4), hand-written. prom-client 15 does run on Bun,
 * Node 24 and Deno 2 (checked: a counter scraped under each), but it loads cluster, perf_hooks,
 * http, https, zlib and fs at import time, and src/ is the runtime-free core (no node:* outside
 * src/runtime; the handler must also run in edge runtimes). What the server needs (counters and
 * histograms with a few fixed labels, gauges read at scrape time) is a few dozen lines.
 */

type Labels = Record<string, string>;

interface Series {
  labels: Labels;
  value: number;
}

interface HistogramSeries {
  labels: Labels;
  counts: number[];
  sum: number;
  count: number;
}

/** A monotonically increasing count, one series per label combination. */
export interface Counter {
  inc(labels?: Labels, by?: number): void;
  /** The current value of one series (tests and `stowage` itself read it). */
  get(labels?: Labels): number;
}

/** Observations in cumulative buckets, plus their sum and count. */
export interface Histogram {
  observe(labels: Labels, value: number): void;
}

/** Latency buckets in seconds: loopback requests take well under 1 ms, a large push seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly #families: { name: string; help: string; type: string; render(): string[] }[] = [];

  counter(name: string, help: string): Counter {
    const series = new Map<string, Series>();
    this.#add(name, help, "counter", () => [...series.values()].map((s) => `${name}${labelText(s.labels)} ${s.value}`));
    return {
      inc(labels = {}, by = 1) {
        const key = labelKey(labels);
        const s = series.get(key);
        if (s) s.value += by;
        else series.set(key, { labels, value: by });
      },
      get: (labels = {}) => series.get(labelKey(labels))?.value ?? 0,
    };
  }

  histogram(name: string, help: string, buckets: number[] = LATENCY_BUCKETS): Histogram {
    const series = new Map<string, HistogramSeries>();
    this.#add(name, help, "histogram", () => {
      const lines: string[] = [];
      for (const s of series.values()) {
        let cumulative = 0;
        buckets.forEach((le, i) => {
          cumulative += s.counts[i];
          lines.push(`${name}_bucket${labelText({ ...s.labels, le: String(le) })} ${cumulative}`);
        });
        lines.push(`${name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
        lines.push(`${name}_sum${labelText(s.labels)} ${s.sum}`);
        lines.push(`${name}_count${labelText(s.labels)} ${s.count}`);
      }
      return lines;
    });
    return {
      observe(labels, value) {
        const key = labelKey(labels);
        let s = series.get(key);
        if (!s) series.set(key, (s = { labels, counts: buckets.map(() => 0), sum: 0, count: 0 }));
        const i = buckets.findIndex((le) => value <= le);
        if (i >= 0) s.counts[i]++;
        s.sum += value;
        s.count++;
      },
    };
  }

  /**
   * A value read at scrape time, e.g. `metrics.gauge("stowage_live_streams", "…", () => n)`.
   * A callback that throws is skipped for that scrape rather than failing the whole page.
   */
  gauge(name: string, help: string, read: () => number): void {
    this.#add(name, help, "gauge", () => {
      try {
        const v = read();
        return Number.isFinite(v) ? [`${name} ${v}`] : [];
      } catch {
        return [];
      }
    });
  }

  /** The exposition text: `# HELP`, `# TYPE`, then the samples of every family. */
  text(): string {
    const out: string[] = [];
    for (const f of this.#families) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${f.name} ${f.type}`, ...f.render());
    }
    return `${out.join("\n")}\n`;
  }

  #add(name: string, help: string, type: string, render: () => string[]): void {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`invalid metric name ${name}`);
    if (this.#families.some((f) => f.name === name)) throw new Error(`metric ${name} is registered twice`);
    this.#families.push({ name, help, type, render });
  }
}

/** The content type Prometheus expects for the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join("\u0000");
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${labels[k].replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

/** The server's series, registered once per server. */
export function serverMetrics(metrics = new Metrics()) {
  return {
    registry: metrics,
    requests: metrics.counter("stowage_http_requests_total", "HTTP requests answered, by method, route template and status."),
    duration: metrics.histogram("stowage_http_request_duration_seconds", "Time to answer a request (until the response headers), by method and route template."),
    pushOps: metrics.counter("stowage_push_ops_total", "Pushed ops by outcome: applied, duplicate, conflict, rejected."),
    docWrites: metrics.counter("stowage_doc_writes_total", "Single-document writes (PUT/PATCH/DELETE /v1/docs, console edits) by source (api, console) and result (applied, conflict, rejected, not_found)."),
    pullChanges: metrics.counter("stowage_pull_changes_total", "Changes sent in pull responses."),
    pullResets: metrics.counter("stowage_pull_resets_total", "Pulls answered with reset (cursor behind the purge horizon)."),
    gcRuns: metrics.counter("stowage_gc_runs_total", "Scheduled tombstone GC runs, by result (ok, error)."),
    gcTombstones: metrics.counter("stowage_gc_tombstones_purged_total", "Tombstones purged by scheduled GC."),
    storeErrors: metrics.counter("stowage_store_errors_total", "Requests that failed inside the server (answered 500)."),
  };
}
export type ServerMetrics = ReturnType<typeof serverMetrics>;
