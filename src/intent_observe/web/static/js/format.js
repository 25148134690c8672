// Human formats for numbers, times and durations.

const NS_PER_MS = 1e6;

export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  return Math.round(n).toLocaleString("en-US");
}

export function fmtCompact(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(abs >= 1e10 ? 0 : 1)}B`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(abs >= 1e5 ? 0 : 1)}k`;
  return fmtInt(n);
}

export function fmtUsd(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  return `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: n < 1 ? 4 : 2 })}`;
}

/** Seconds → "850 ms", "42 s", "3 m 12 s", "5 h 3 m", "2 d 4 h". */
export function fmtSeconds(sec) {
  if (sec === null || sec === undefined || Number.isNaN(sec)) return "—";
  if (sec < 1) return `${Math.round(sec * 1000)} ms`;
  if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)} s`;
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts = [];
  let rest = Math.round(sec);
  for (const [label, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${label}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  return fmtSeconds(ms / 1000);
}

/** A trace's duration (the API's `duration_ms`), the same words in the trace list and the trace view. */
export function fmtTraceDuration(trace) {
  return trace.duration_ms > 0 ? fmtMs(trace.duration_ms) : "instant";
}

function nsToDate(ns) {
  return new Date(Number(ns) / NS_PER_MS);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** "2026-03-30 14:45:00" in local time. */
export function fmtDateTime(ns) {
  if (!ns) return "—";
  const d = nsToDate(ns);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "14:45:00.123" for the live stream; the date is added when it is not today. */
export function fmtClock(ns) {
  if (!ns) return "—";
  const d = nsToDate(ns);
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return clock;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}`;
}

export function fmtAgo(ns, now = Date.now()) {
  if (!ns) return "never";
  const sec = Math.max(0, (now - Number(ns) / NS_PER_MS) / 1000);
  if (sec < 5) return "just now";
  return `${fmtSeconds(sec).split(" ").slice(0, 2).join(" ")} ago`;
}

/** A value of an attribute table: strings as they are, others as compact JSON. */
export function fmtValue(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

/** The event-type family used for colouring: "contract.assertion.failed" → "contract". */
export function typeFamily(type) {
  const head = String(type || "other").split(".")[0];
  return ["signal", "cluster", "intent", "spec", "contract", "assertion", "observation", "system", "decision",
    "approval", "execution", "human_input", "knowledge", "trace"].includes(head) ? head : "other";
}

export function isFailureType(type) {
  return /(failed|error|rejected|expired|dismissed)$/.test(String(type || ""));
}
