// Hand-written charts: HTML bars (crisp text, responsive) and SVG sparklines.
import { h, s } from "./dom.js";
import { fmtInt, fmtSeconds } from "./format.js";

/** A "nice" upper bound for an axis (1, 2, 2.5, 5 × 10^k, or whole hours/days for durations). */
function niceMax(value, durations = false) {
  if (!value || value <= 0) return 1;
  if (durations) {
    const steps = [60, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 172800, 259200,
      604800, 1209600, 2592000];
    const step = steps.find((st) => st * 4 >= value) || Math.ceil(value / 4);
    return Math.ceil(value / step) * step;
  }
  const exp = 10 ** Math.floor(Math.log10(value));
  const nice = [1, 2, 2.5, 5, 10].find((m) => m * exp >= value);
  return nice * exp;
}

function axisTicks(max, format, count = 4) {
  return h("div", { class: "axis" },
    Array.from({ length: count + 1 }, (_, i) => {
      const tick = h("span", { class: "axis-tick" }, format((max * i) / count));
      tick.style.left = `${(i / count) * 100}%`;
      return tick;
    }));
}

function gridLines(count = 4) {
  return h("div", { class: "grid-lines", "aria-hidden": "true" },
    Array.from({ length: count + 1 }, (_, i) => {
      const line = h("span");
      line.style.left = `${(i / count) * 100}%`;
      return line;
    }));
}

function hbar(kind, value, max, label) {
  const bar = h("div", { class: `hbar hbar-${kind}`, title: `${label}: ${fmtSeconds(value)}` });
  bar.style.width = value === null || value === undefined ? "0" : `${Math.max(0.6, (value / max) * 100)}%`;
  return h("div", { class: "hbar-track" }, bar,
    h("span", { class: "hbar-value" }, value === null || value === undefined ? "no data" : fmtSeconds(value)));
}

const STAGES = [
  ["signal_to_intent", "Signal → Intent"],
  ["intent_to_spec", "Intent → Spec"],
  ["spec_to_complete", "Spec → Complete"],
];

/** Median and p95 per stage of the loop as horizontal bars on one shared duration axis. */
export function cycleTimeChart(cycleTime) {
  const stages = STAGES.map(([key, label]) => ({ key, label, ...(cycleTime?.[key] || {}) }));
  const max = niceMax(Math.max(0, ...stages.map((st) => st.p95_s ?? st.median_s ?? 0)), true);
  const rows = stages.map((st) =>
    h("div", { class: "cycle-row", dataset: { stage: st.key } },
      h("div", { class: "cycle-label" },
        h("span", { class: "cycle-name" }, st.label),
        h("span", { class: "cycle-count" }, `${fmtInt(st.count ?? 0)} measured`)),
      h("div", { class: "cycle-bars" },
        gridLines(),
        hbar("median", st.median_s, max, "median"),
        hbar("p95", st.p95_s, max, "p95"))));
  return h("div", { class: "cycle-chart" },
    h("div", { class: "legend" },
      h("span", { class: "legend-item" }, h("i", { class: "swatch swatch-median" }), "median"),
      h("span", { class: "legend-item" }, h("i", { class: "swatch swatch-p95" }), "p95")),
    rows,
    h("div", { class: "cycle-row cycle-axis" }, h("div"), axisTicks(max, (v) => (v ? fmtSeconds(v) : "0"))));
}

export const TRUST_LEVELS = [
  ["L0", "human drives"],
  ["L1", "agent assists"],
  ["L2", "human approves"],
  ["L3", "human monitors"],
  ["L4", "full autonomy"],
];

/** Counts per autonomy level as vertical bars; the open signals with no trust score (no level)
 * are counted apart and in each level's share, which is of every open signal. */
export function trustChart(trust) {
  const counts = TRUST_LEVELS.map(([level]) => Number(trust?.[level] ?? 0));
  const unscored = Number(trust?.unscored ?? 0);
  const total = counts.reduce((a, b) => a + b, unscored);
  const chart = h("div", { class: "trust-chart" },
    TRUST_LEVELS.map(([level, meaning], i) => {
      const bar = h("div", { class: `vbar vbar-${level}` });
      // a bar's height is its share of every open signal, the unscored too: the figure above it
      const share = total ? Math.round((counts[i] / total) * 100) : 0;
      bar.style.height = `${counts[i] ? Math.max(2, (counts[i] / total) * 100) : 0}%`;
      return h("div", { class: "trust-col", dataset: { level }, title: `${level} · ${meaning}: ${counts[i]}` },
        h("div", { class: "vbar-value" }, h("b", { class: "trust-count" }, fmtInt(counts[i])),
          h("span", { class: "muted" }, ` ${share}%`)),
        h("div", { class: "vbar-track" }, bar),
        h("div", { class: "vbar-label" }, h("b", {}, level), h("span", {}, meaning)));
    }));
  if (!total) {
    return h("div", { class: "trust-wrap" }, chart,
      h("p", { class: "chart-empty" }, "No open signals: every signal is clustered, promoted or closed."));
  }
  if (!unscored) return chart;
  return h("div", { class: "trust-wrap" }, chart,
    h("p", { class: "trust-unscored muted" },
      `+ ${fmtInt(unscored)} open signal${unscored === 1 ? "" : "s"} with no trust score (${Math.round((unscored / total) * 100)}%)`));
}

/** A filled line through `values` (oldest first), stretched to its box. */
export function sparkline(values, { height = 36, className = "" } = {}) {
  const width = 100;
  const n = values.length;
  const max = Math.max(...values, 0) || 1;
  const x = (i) => (n <= 1 ? width : (i / (n - 1)) * width);
  const y = (v) => height - 2 - (v / max) * (height - 4);
  const points = values.map((v, i) => `${x(i).toFixed(2)},${y(v).toFixed(2)}`);
  const line = n ? `M${points.join(" L")}` : "";
  const area = n ? `${line} L${width},${height} L0,${height} Z` : "";
  return s("svg", { class: `sparkline ${className}`, viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none", "aria-hidden": "true" },
  s("path", { class: "spark-area", d: area }),
  s("path", { class: "spark-line", d: line, "vector-effect": "non-scaling-stroke" }));
}

/** Column sparkline (one bar per bucket), for counts per hour. */
export function columns(values, { height = 36, className = "" } = {}) {
  const n = Math.max(values.length, 1);
  const max = Math.max(...values, 0) || 1;
  const w = 100 / n;
  return s("svg", { class: `columns ${className}`, viewBox: `0 0 100 ${height}`, preserveAspectRatio: "none",
    "aria-hidden": "true" },
  s("line", { class: "baseline", x1: 0, x2: 100, y1: height - 0.5, y2: height - 0.5 }),
  values.map((v, i) => {
    const bh = v ? Math.max(1.5, (v / max) * (height - 2)) : 0;
    return s("rect", { x: (i * w + w * 0.12).toFixed(3), width: (w * 0.76).toFixed(3), y: (height - bh).toFixed(2),
      height: bh.toFixed(2) });
  }));
}

/** A thin two-part bar: the share of `good` (green) and `bad` (red). */
export function ratioBar(good, bad, title) {
  const total = good + bad;
  const part = (cls, n) => {
    const el = h("span", { class: cls });
    el.style.width = total ? `${(n / total) * 100}%` : "0";
    return el;
  };
  return h("div", { class: "ratio-bar", title }, part("ratio-pass", good), part("ratio-fail", bad));
}
