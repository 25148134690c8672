// Trace explorer: intents (one trace each) with span count and duration, orphan signals apart.
import { getJSON } from "../api.js";
import { h, icon, mount } from "../dom.js";
import { fmtAgo, fmtDateTime, fmtInt, fmtTraceDuration } from "../format.js";
import { emptyState, pageHeader, panel, startPage, traceHref } from "../shell.js";

function durationCell(trace, maxMs) {
  const bar = h("span", { class: "dur-bar" });
  bar.style.width = `${maxMs ? Math.max(1.5, (trace.duration_ms / maxMs) * 100) : 0}%`;
  return h("td", { class: "col-duration" },
    h("div", { class: "dur-cell" }, h("span", { class: "dur-track" }, bar),
      h("span", { class: "dur-value mono" }, fmtTraceDuration(trace))));
}

/** Whether the trace's root artifact is still open (nothing closed it: its life goes on) or closed;
 * "closed" only where roots can be either (intents), not for instants such as decisions. */
function stateLabel(trace, showClosed) {
  if (!trace.state || (trace.state === "closed" && !showClosed)) return null;
  return h("span", { class: ["trace-state", trace.state === "open" ? "wf-state" : "trace-closed muted"],
    title: trace.state === "open" ? "still open: nothing has completed it" : "closed" }, trace.state);
}

function traceName(trace, showClosed) {
  const id = trace.intent_id || trace.root_name;
  return h("td", { class: "col-name" },
    h("a", { class: "trace-link", href: traceHref(trace.trace_id) },
      h("span", { class: "trace-id-label mono" }, id)),
    stateLabel(trace, showClosed),
    trace.title ? h("span", { class: "trace-title" }, trace.title) : null);
}

function traceRow(trace, maxMs, showClosed) {
  const row = h("tr", { class: "trace-row clickable", dataset: { traceId: trace.trace_id } },
    traceName(trace, showClosed),
    h("td", { class: "num" }, fmtInt(trace.span_count)),
    h("td", { class: "num" }, trace.error_count
      ? h("span", { class: "error-count" }, icon("alert", 13), fmtInt(trace.error_count))
      : h("span", { class: "muted" }, "0")),
    durationCell(trace, maxMs),
    h("td", { class: "col-started", title: fmtDateTime(trace.start_ns) }, fmtAgo(trace.start_ns)));
  row.addEventListener("click", (e) => {
    if (!e.target.closest("a")) window.location.href = traceHref(trace.trace_id);
  });
  return row;
}

function tracesTable(traces, emptyText, id, { showClosed = false } = {}) {
  if (!traces.length) return emptyState("layers", emptyText);
  const maxMs = Math.max(...traces.map((t) => t.duration_ms || 0));
  return h("div", { class: "table-scroll" },
    h("table", { class: "trace-table", id },
      h("thead", {}, h("tr", {},
        h("th", {}, "Trace"), h("th", { class: "num" }, "Spans"), h("th", { class: "num" }, "Errors"),
        h("th", {}, "Duration"), h("th", {}, "Started"))),
      h("tbody", {}, traces.map((t) => traceRow(t, maxMs, showClosed)))));
}

function orphanList(orphans) {
  if (!orphans.length) return emptyState("signal", "No orphan signals", h("p", {}, "Every signal belongs to a cluster or an intent."));
  return h("ul", { class: "orphan-list", id: "orphan-list" }, orphans.map((t) =>
    h("li", { class: "orphan", dataset: { traceId: t.trace_id } },
      h("a", { href: traceHref(t.trace_id), class: "orphan-link" },
        h("span", { class: "orphan-dot" }),
        h("span", { class: "orphan-main" },
          h("span", { class: "mono orphan-id" }, t.root_name.replace(/^signal /, "")),
          h("span", { class: "orphan-title" }, t.title || "untitled")),
        h("span", { class: "orphan-time muted", title: fmtDateTime(t.start_ns) }, fmtAgo(t.start_ns))))));
}

async function load(q) {
  const [intents, orphans, all] = await Promise.all([
    getJSON("/api/traces", { kind: "intent", q, limit: 500 }),
    getJSON("/api/traces", { kind: "orphan", q, limit: 500 }),
    getJSON("/api/traces", { kind: "all", q, limit: 500 }),
  ]);
  const known = new Set([...intents.traces, ...orphans.traces].map((t) => t.trace_id));
  return { intents: intents.traces, orphans: orphans.traces, others: all.traces.filter((t) => !known.has(t.trace_id)) };
}

function render(body, data) {
  mount(body,
    h("div", { class: "row traces-layout" },
      panel({ title: `Intents · ${data.intents.length}`, iconName: "intent", className: "panel-flush" },
        tracesTable(data.intents, "No intents yet", "intent-traces", { showClosed: true })),
      panel({ title: `Orphan signals · ${data.orphans.length}`, iconName: "signal", className: "panel-flush panel-orphans" },
        orphanList(data.orphans))),
    data.others.length ? otherTraces(data.others) : null);
}

const REFRESH_MS = 10000;
const view = { othersOpen: false }; // survives the periodic refresh

// Clusters and standalone events can be many: listed on request, not in the way of intents.
function otherTraces(others) {
  const content = h("div", { class: "others-body", hidden: !view.othersOpen },
    h("p", { class: "panel-note" }, "Clusters not yet promoted, decisions, specs no intent claims, and standalone events such as system errors."),
    tracesTable(others, "", "other-traces"));
  const toggle = h("button", { class: "button button-ghost", type: "button", "aria-expanded": String(view.othersOpen) },
    view.othersOpen ? "Hide" : "Show");
  toggle.addEventListener("click", () => {
    content.hidden = !content.hidden;
    view.othersOpen = !content.hidden;
    toggle.textContent = content.hidden ? "Show" : "Hide";
    toggle.setAttribute("aria-expanded", String(!content.hidden));
  });
  return panel({ title: `Other traces · ${others.length}`, iconName: "layers", className: "panel-flush", actions: [toggle] },
    content);
}

startPage(async (app) => {
  const params = new URLSearchParams(window.location.search);
  const search = h("input", { class: "input input-search", type: "search", placeholder: "Search intents, signals, titles…",
    value: params.get("q") || "", "aria-label": "Search traces" });
  const body = h("div", { class: "traces-body" });
  mount(app, pageHeader("Traces", "Each intent is a trace: its signals, specs, contracts and assertions as spans.",
    h("div", { class: "search-wrap" }, icon("search", 15), search, h("kbd", { title: "Press / to search" }, "/"))), body);
  let timer = null;
  const refresh = async () => {
    const q = search.value.trim();
    const url = new URL(window.location.href);
    if (q) url.searchParams.set("q", q);
    else url.searchParams.delete("q");
    window.history.replaceState(null, "", url);
    render(body, await load(q));
  };
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => refresh().catch(() => {}), 250);
  });
  await refresh();
  // New intents and signals keep arriving; a hidden tab does not poll.
  setInterval(() => {
    if (!document.hidden && document.activeElement !== search) refresh().catch(() => {});
  }, REFRESH_MS);
});
