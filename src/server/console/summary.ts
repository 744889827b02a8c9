/**
 * A small JSON summary of the metrics registry for the console's charts: running totals the
 * page samples every few seconds and turns into rates. Read from the registry's exposition
 * text in-process, so the console needs nothing from metrics.ts beyond what /metrics serves.
 */
import type { Metrics } from "../ops/metrics.ts";

export interface MetricsSummary {
  time: number;
  requests: number;
  errors: number;
  pushOps: Record<string, number>;
  pullChanges: number;
  /** Single-document writes (`/v1/docs` and console edits), every result. */
  docWrites: number;
  streams: number;
  inFlight: number;
}

export function summarize(registry: Metrics | undefined, now = Date.now()): MetricsSummary {
  const out: MetricsSummary = { time: now, requests: 0, errors: 0, pushOps: { applied: 0, duplicate: 0, conflict: 0, rejected: 0 }, pullChanges: 0, docWrites: 0, streams: 0, inFlight: 0 };
  if (!registry) return out;
  for (const line of registry.text().split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, labels = "", raw] = m;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    if (name === "stowage_http_requests_total") {
      // The console's own polling is not traffic an operator wants charted.
      if (labels.includes('route="other"')) continue;
      out.requests += value;
      if (/status="5\d\d"/.test(labels)) out.errors += value;
    } else if (name === "stowage_push_ops_total") {
      const outcome = /outcome="([a-z_]+)"/.exec(labels)?.[1];
      if (outcome) out.pushOps[outcome] = (out.pushOps[outcome] ?? 0) + value;
    } else if (name === "stowage_pull_changes_total") out.pullChanges += value;
    else if (name === "stowage_doc_writes_total") out.docWrites += value;
    else if (name === "stowage_live_streams") out.streams = value;
    else if (name === "stowage_http_requests_in_flight") out.inFlight = value;
  }
  return out;
}
