// report.svg, written by hand (no charting library): three stacked panels sharing a
// time axis (successful requests per second, errors per second, latency), stage
// boundaries as labelled vertical lines, the longest write outage shaded.
import { RunTimeline } from "../timeline";
import { longestWindow, perSecond, writeOutages, SecondBucket } from "./analysis";

const W = 960;
const LEFT = 60;
const RIGHT = 20;
const PANEL_H = 120;
const GAP = 36;
const TOP = 96;

/** Text as it appears in the SVG (XML escaping). */
export const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const pow = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * pow) return m * pow;
  return 10 * pow;
}

interface Panel {
  title: string;
  unit: string;
  series: Array<{ label: string; color: string; value: (b: SecondBucket) => number; bars?: boolean }>;
}

function polyline(points: Array<[number, number]>, color: string): string {
  return `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ")}"/>`;
}

export function renderSvg(t: RunTimeline): string {
  const from = t.startedAt;
  const to = Math.max(t.endedAt, from + 1000);
  const buckets = perSecond(t.requests, from, to);
  const x = (ms: number) => LEFT + ((ms - from) / (to - from)) * (W - LEFT - RIGHT);
  const panels: Panel[] = [
    { title: "successful requests per second", unit: "req/s", series: [
      { label: "writes", color: "#1a7f37", value: (b) => b.writesOk },
      { label: "reads", color: "#0969da", value: (b) => b.readsOk },
    ] },
    { title: "failed requests per second", unit: "err/s", series: [{ label: "errors", color: "#cf222e", value: (b) => b.errors, bars: true }] },
    { title: "latency per second", unit: "ms", series: [
      { label: "max", color: "#bc4c00", value: (b) => b.latencyMax },
      { label: "p50", color: "#8250df", value: (b) => b.latencyP50 },
    ] },
  ];
  const height = TOP + panels.length * (PANEL_H + GAP) + 10;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${LEFT}" y="18" font-size="14" font-weight="bold">${esc(`ferry rehearsal: ${t.source}, ${t.pgStrategy} Postgres, Redis by ${t.redisMode}`)}</text>`);
  const worst = longestWindow(writeOutages(t.requests));
  const bottom = TOP + panels.length * (PANEL_H + GAP) - GAP;
  if (worst) {
    out.push(`<rect x="${x(worst.start).toFixed(1)}" y="${TOP}" width="${Math.max(1, x(worst.end) - x(worst.start)).toFixed(1)}" height="${bottom - TOP}" fill="#cf222e" fill-opacity="0.12"><title>writes unavailable ${worst.end - worst.start} ms</title></rect>`);
  }
  panels.forEach((p, i) => {
    const y0 = TOP + i * (PANEL_H + GAP);
    const max = niceMax(Math.max(0, ...buckets.flatMap((b) => p.series.map((s) => s.value(b)))));
    const y = (v: number) => y0 + PANEL_H - (v / max) * PANEL_H;
    out.push(`<rect x="${LEFT}" y="${y0}" width="${W - LEFT - RIGHT}" height="${PANEL_H}" fill="none" stroke="#d0d7de"/>`);
    out.push(`<text x="${LEFT}" y="${y0 - 6}" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<text x="${LEFT - 6}" y="${y0 + 10}" text-anchor="end">${fmt(max)}</text><text x="${LEFT - 6}" y="${y0 + PANEL_H}" text-anchor="end">0</text>`);
    out.push(`<text x="${LEFT - 6}" y="${y0 + PANEL_H / 2}" text-anchor="end" fill="#57606a">${esc(p.unit)}</text>`);
    p.series.forEach((s, k) => {
      out.push(`<text x="${W - RIGHT - 4 - k * 70}" y="${y0 - 6}" text-anchor="end" fill="${s.color}">■ ${esc(s.label)}</text>`);
      if (s.bars) {
        const bw = Math.max(1, (W - LEFT - RIGHT) / buckets.length);
        for (const b of buckets) {
          const v = s.value(b);
          if (v > 0) out.push(`<rect x="${x(b.t).toFixed(1)}" y="${y(v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y0 + PANEL_H - y(v)).toFixed(1)}" fill="${s.color}"/>`);
        }
      } else {
        out.push(polyline(buckets.map((b) => [x(b.t + 500), y(s.value(b))]), s.color));
      }
    });
  });
  // Stage labels sit in a band above the panels, alternating height so short stages stay readable.
  t.stages.forEach((stage, i) => {
    const sx = x(stage.startedAt);
    const ly = TOP - 22 - (i % 2) * 16;
    const color = stage.outcome === "failed" ? "#cf222e" : stage.outcome === "skipped" ? "#8c959f" : "#24292f";
    out.push(`<line x1="${sx.toFixed(1)}" y1="${ly + 4}" x2="${sx.toFixed(1)}" y2="${bottom}" stroke="${color}" stroke-dasharray="4 3"/>`);
    const nearRight = sx > W - RIGHT - 120;
    out.push(`<text x="${(nearRight ? sx - 3 : sx + 3).toFixed(1)}" y="${ly}" fill="${color}"${nearRight ? ' text-anchor="end"' : ""}>${esc(`${stage.name} (${stage.outcome})`)}</text>`);
  });
  const seconds = Math.round((to - from) / 1000);
  for (let k = 0; k <= 5; k++) {
    const ms = from + ((to - from) * k) / 5;
    out.push(`<text x="${x(ms).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" fill="#57606a">${Math.round((seconds * k) / 5)} s</text>`);
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}
