import { useEffect, useState } from "preact/hooks";
import { api } from "./api.ts";
import { html } from "./html.ts";

interface Summary { time: number; requests: number; errors: number; pushOps: Record<string, number>; pullChanges: number; docWrites: number; streams: number; inFlight: number }
interface Point { t: number; values: number[] }

const SAMPLE_MS = 2000;
const KEEP = 90; // 3 minutes of samples
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#dc2626"];

/** A line chart in plain SVG: a y axis with its max, one polyline per series, a legend. */
function Chart({ title, unit, names, points }: { title: string; unit: string; names: string[]; points: Point[] }) {
  const w = 560;
  const hgt = 160;
  const pad = 36;
  const max = Math.max(1, ...points.flatMap((p) => p.values));
  const t0 = points[0]?.t ?? 0;
  const span = Math.max(1, (points[points.length - 1]?.t ?? 1) - t0);
  const x = (t: number) => pad + ((t - t0) / span) * (w - pad - 8);
  const y = (v: number) => hgt - 20 - (v / max) * (hgt - 36);
  const last = points[points.length - 1]?.values ?? names.map(() => 0);
  const nice = (v: number) => (v >= 100 ? Math.round(v) : Math.round(v * 10) / 10);
  return html`<figure class="chart">
    <figcaption>${title} <small>(${unit}; now: ${names.map((n, i) => `${n} ${nice(last[i] ?? 0)}`).join(", ")})</small></figcaption>
    <svg viewBox=${`0 0 ${w} ${hgt}`} role="img" aria-label=${`${title}, last 3 minutes; max ${nice(max)} ${unit}`}>
      <line x1=${pad} y1=${hgt - 20} x2=${w - 8} y2=${hgt - 20} class="axis" />
      <line x1=${pad} y1="16" x2=${pad} y2=${hgt - 20} class="axis" />
      <text x=${pad - 4} y="20" text-anchor="end" class="tick">${nice(max)}</text>
      <text x=${pad - 4} y=${hgt - 20} text-anchor="end" class="tick">0</text>
      <text x=${w - 8} y=${hgt - 4} text-anchor="end" class="tick">now</text>
      ${names.map((_, i) =>
        points.length > 1 ? html`<polyline fill="none" stroke=${COLORS[i]} stroke-width="2" points=${points.map((p) => `${x(p.t).toFixed(1)},${y(p.values[i] ?? 0).toFixed(1)}`).join(" ")} />` : null,
      )}
    </svg>
    <ul class="legend">${names.map((n, i) => html`<li><span class="swatch" style=${{ background: COLORS[i] }}></span>${n}</li>`)}</ul>
  </figure>`;
}

/** Samples the in-process metrics summary every 2 s and charts rates (differences of totals) and gauges. */
export function MetricsPage() {
  const [samples, setSamples] = useState<Summary[]>([]);
  const [msg, setMsg] = useState("");
  useEffect(() => {
    const tick = () =>
      api<Summary>("metrics").then(
        (s) => setSamples((old) => [...old, s].slice(-KEEP - 1)),
        (e) => setMsg(e.message),
      );
    void tick();
    const timer = setInterval(tick, SAMPLE_MS);
    return () => clearInterval(timer);
  }, []);
  const rate = (f: (s: Summary) => number[]): Point[] =>
    samples.slice(1).map((s, i) => {
      const prev = samples[i];
      const dt = Math.max(0.001, (s.time - prev.time) / 1000);
      const a = f(s);
      const b = f(prev);
      return { t: s.time, values: a.map((v, j) => Math.max(0, (v - b[j]) / dt)) };
    });
  const gauge = (f: (s: Summary) => number[]): Point[] => samples.map((s) => ({ t: s.time, values: f(s) }));
  const outcomes = ["applied", "duplicate", "conflict", "rejected"];
  return html`<section aria-labelledby="metrics-h">
    <h2 id="metrics-h">Metrics</h2>
    <p class="hint">Sampled every 2 s from this server process (the same counters as GET /metrics); the console's own calls are not counted.</p>
    ${msg ? html`<p role="status" class="msg">${msg}</p>` : null}
    <div class="charts">
      <${Chart} title="Requests" unit="per second" names=${["requests", "5xx"]} points=${rate((s) => [s.requests, s.errors])} />
      <${Chart} title="Push outcomes" unit="ops per second" names=${outcomes} points=${rate((s) => outcomes.map((o) => s.pushOps[o] ?? 0))} />
      <${Chart} title="Pulls and document writes" unit="per second" names=${["changes pulled", "document writes"]} points=${rate((s) => [s.pullChanges, s.docWrites ?? 0])} />
      <${Chart} title="Open streams" unit="GET /v1/events" names=${["streams", "requests in flight"]} points=${gauge((s) => [s.streams, s.inFlight])} />
    </div>
  </section>`;
}
