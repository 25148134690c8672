// One trace as a waterfall: spans nested under their parents, time bars on a shared
// axis, error spans in red; a click opens the span's attributes and log records.
// Each span is sent once, final: a long-lived artifact (intent, spec, contract, cluster) is an
// instant announcement, and its phases (contract runs, a lifecycle) are child spans with real
// durations. Its row draws its life from the API's `until_ns`: to its last phase once closed,
// striped up to its newest event while open.
import { getJSON } from "../api.js";
import { h, icon, mount } from "../dom.js";
import { fmtDateTime, fmtMs, fmtTraceDuration, fmtValue, typeFamily } from "../format.js";
import { emptyState, pageHeader, panel, startPage, traceHref } from "../shell.js";

const TRACE_ID = /^[0-9a-f]{32}$/i;
const TICKS = 5;
// Spans of the Intent loop itself; others (e.g. Claude Code's) get their service named in the row.
const DEFAULT_SERVICE = "intent";

/** Where a span's bar ends: an artifact's life (see the header), any other span's own end. */
const untilNs = (span) => Math.max(span.end_ns, span.until_ns ?? span.end_ns);

/** A phase row is named under its artifact by what follows " · ": "run 1", "lifecycle". */
function phaseLabel(span) {
  const at = span.name.lastIndexOf(" · ");
  return at >= 0 ? span.name.slice(at + 3) : span.name;
}

/** ✓ or ✗ for a contract run, from its result (a run's status is ERROR only when it failed). */
function runMark(span) {
  if (span.phase !== "run") return null;
  const passed = span.status !== "error" && span.attributes?.["intent.contract.result"] !== "fail";
  return h("span", { class: ["wf-run-mark", passed ? "wf-run-pass" : "wf-run-fail"], title: passed ? "passed" : "failed" },
    passed ? "✓" : "✗");
}

function stateOf(span) {
  return span.state === "open" ? h("span", { class: "wf-state", title: "Nothing has closed it yet: its bar runs to its newest event" }, "open") : null;
}

/** A span drawn under its contract because its own parent, the run, is still going (sent when it ends). */
function waitingFor(span) {
  if (!span.parent_span_id || span.tree_parent_span_id === span.parent_span_id) return null;
  return h("span", { class: "wf-waiting", title: "Its run is still going: the run's span arrives when the run ends" }, "run in progress");
}

/** Spans in depth-first order under the span the API draws each one under (its parent, or for
 * one whose parent has not arrived, its contract). An artifact's phases come first among its
 * children, in time order. */
function treeOrder(spans) {
  const children = new Map();
  for (const sp of spans) {
    const parent = sp.tree_parent_span_id || null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(sp);
  }
  const ordered = [];
  const visit = (parent, depth) => {
    const kids = (children.get(parent) || []).sort((a, b) =>
      (a.phase ? 0 : 1) - (b.phase ? 0 : 1) || a.start_ns - b.start_ns || a.name.localeCompare(b.name));
    for (const sp of kids) {
      ordered.push({ span: sp, depth, childCount: (children.get(sp.span_id) || []).length });
      visit(sp.span_id, depth + 1);
    }
  };
  visit(null, 0);
  return ordered;
}

function spanFamily(span) {
  if (span.service && span.service !== DEFAULT_SERVICE) return "external"; // e.g. Claude Code's own spans
  return typeFamily(span.attributes?.["intent.artifact.type"] || span.name.split(" ")[0]);
}

/** Ticks of the visible window: from the trace's start, or when zoomed, the window's start
 * and then "+" steps (two units of a long offset could not tell the steps apart). */
function tickLabel(offsetNs, stepNs) {
  if (!offsetNs) return stepNs ? fmtMs(stepNs / 1e6) : "0";
  return stepNs ? `+${fmtMs(stepNs / 1e6)}` : fmtMs(offsetNs / 1e6);
}

function timeAxis(offsetNs, windowNs) {
  // an instant (every span at one time: the window's 1 ns floor) has no scale: its one tick
  const ticks = windowNs > 1 ? TICKS : 1;
  return h("div", { class: "wf-axis" },
    Array.from({ length: ticks }, (_, i) => {
      const at = ticks > 1 ? i / (ticks - 1) : 0;
      const tick = h("span", { class: "wf-tick" }, tickLabel(offsetNs, windowNs * at));
      tick.style.left = `${at * 100}%`;
      return tick;
    }));
}

/** How a span's bar is drawn: a phase or any plain span solid, an artifact's life lighter (its
 * phases carry the durations), striped while the artifact is open. */
function barStyle(span) {
  if (span.state === "open") return "wf-open";
  return span.phases?.length ? "wf-life" : "";
}

function barTitle(span) {
  if (span.state === "open") return "open: from its announcement to its newest event";
  return span.phases?.length ? "from its announcement to the end of its last phase" : null;
}

/** A span's bar on the window [t0, t0 + windowNs]; the cell clips what falls outside. */
function spanBar(span, t0, windowNs) {
  const until = untilNs(span);
  const start = ((span.start_ns - t0) / windowNs) * 100;
  const width = ((until - span.start_ns) / windowNs) * 100;
  const instant = until <= span.start_ns;
  const bar = h("span", { class: ["wf-bar", instant ? "wf-instant" : barStyle(span)] });
  bar.style.left = `${start}%`;
  if (!instant) bar.style.width = `${Math.max(width, 0.25)}%`;
  bar.title = instant ? "a single event (no duration)" : barTitle(span) || "";
  if (instant) return h("div", { class: "wf-timeline" }, bar);
  const end = Math.min(start + Math.max(width, 0), 100);
  if (end <= 0 || start >= 100) return h("div", { class: "wf-timeline" }, bar); // outside the zoomed window
  const label = h("span", { class: "wf-bar-label mono" }, fmtMs((until - span.start_ns) / 1e6));
  // Labels sit right of the bar, left of it when it ends near the right edge, inside when it fills the row.
  if (start < 12 && end > 78) {
    label.classList.add("wf-label-inside");
    label.style.right = `${100 - end + 0.8}%`;
  } else if (end > 78) {
    label.classList.add("wf-label-left");
    label.style.right = `${100 - Math.max(start, 0) + 0.6}%`;
  } else {
    label.style.left = `calc(${Math.max(end, 0)}% + 6px)`;
  }
  return h("div", { class: "wf-timeline" }, bar, label);
}

/** A row's name cell: a phase is named by what it is under its artifact ("run 1" ✓, "lifecycle"),
 * an open artifact carries an "open" pill. */
function nameCell(span, toggle, childCount) {
  const failed = span.status === "error" && span.phase !== "run"; // a run shows ✗ instead
  return h("div", { class: "wf-name" }, toggle,
    h("span", { class: ["wf-dot", `fam-${spanFamily(span)}`, span.phase ? "wf-dot-phase" : ""] }),
    runMark(span),
    h("span", { class: ["wf-span-name", span.phase ? "wf-phase-name" : ""], title: span.name },
      span.phase ? phaseLabel(span) : span.name),
    stateOf(span),
    waitingFor(span),
    span.service && span.service !== DEFAULT_SERVICE ? h("span", { class: "wf-service" }, span.service) : null,
    failed ? h("span", { class: "wf-error-icon", title: span.status_message || "error" }, icon("alert", 13)) : null,
    childCount ? h("span", { class: "wf-child-count" }, String(childCount)) : null);
}

class Waterfall {
  constructor(trace, onSelect) {
    this.trace = trace;
    this.onSelect = onSelect;
    this.rows = treeOrder(trace.spans);
    this.traceStart = Math.min(...trace.spans.map((sp) => sp.start_ns));
    this.traceNs = Math.max(Math.max(...trace.spans.map(untilNs)) - this.traceStart, 1);
    this.t0 = this.traceStart; // the visible window: the whole trace until zoomed
    this.windowNs = this.traceNs;
    this.collapsed = new Set();
    this.rowEls = new Map();
    this.onZoom = () => {};
  }

  get zoomed() {
    return this.t0 !== this.traceStart || this.windowNs !== this.traceNs;
  }

  /** Show only [startNs, endNs] (a span's own time), or the whole trace again with no arguments. */
  zoom(startNs = this.traceStart, endNs = this.traceStart + this.traceNs) {
    this.t0 = startNs;
    this.windowNs = Math.max(endNs - startNs, 1);
    this.axis.replaceWith((this.axis = timeAxis(this.t0 - this.traceStart, this.windowNs)));
    for (const { span } of this.rows) {
      const row = this.rowEls.get(span.span_id);
      row.lastChild.replaceWith(spanBar(span, this.t0, this.windowNs));
    }
    this.onZoom(this.zoomed);
  }

  render() {
    const body = h("div", { class: "wf-body", role: "tree" }, this.rows.map((row) => this.renderRow(row)));
    this.el = h("div", { class: "waterfall", id: "waterfall" },
      h("div", { class: "wf-row wf-head" }, h("div", { class: "wf-name wf-head-name" }, "Span"),
        (this.axis = timeAxis(0, this.windowNs))),
      h("div", { class: "wf-gridlines", "aria-hidden": "true" },
        Array.from({ length: TICKS }, (_, i) => {
          const line = h("span");
          line.style.left = `${(i / (TICKS - 1)) * 100}%`;
          return line;
        })),
      body);
    return this.el;
  }

  renderRow({ span, depth, childCount }) {
    const error = span.status === "error";
    const toggle = childCount
      ? h("button", { class: "wf-toggle", type: "button", "aria-label": "Collapse", "aria-expanded": "true" }, icon("chevron", 14))
      : h("span", { class: "wf-toggle-space" });
    if (childCount) toggle.addEventListener("click", (e) => {
      e.stopPropagation();
      this.toggle(span.span_id, toggle);
    });
    const name = nameCell(span, toggle, childCount);
    name.style.paddingLeft = `${8 + depth * 18}px`;
    const row = h("div", {
      class: ["wf-row", "wf-span", error ? "span-error" : "", `fam-${spanFamily(span)}`, span.phase ? "wf-phase" : ""],
      role: "treeitem", tabindex: "0",
      dataset: { spanId: span.span_id, parentSpanId: span.parent_span_id || "", treeParent: span.tree_parent_span_id || "",
        depth: String(depth), name: span.name, state: span.state || "", phase: span.phase || "" },
    }, name, spanBar(span, this.t0, this.windowNs));
    row.addEventListener("click", () => this.select(span.span_id));
    row.addEventListener("dblclick", () => {
      if (untilNs(span) > span.start_ns) this.zoom(span.start_ns, untilNs(span));
    });
    row.title = `${span.name} · ${durationText(span)}`;
    row.addEventListener("keydown", (e) => this.onKey(e, row, span.span_id));
    this.rowEls.set(span.span_id, row);
    return row;
  }

  onKey(e, row, spanId) {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.select(spanId);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const visible = [...this.rowEls.values()].filter((el) => !el.hidden);
      const next = visible[visible.indexOf(row) + (e.key === "ArrowDown" ? 1 : -1)];
      if (next) {
        next.focus();
        this.select(next.dataset.spanId);
      }
    }
  }

  toggle(spanId, button) {
    const collapse = !this.collapsed.has(spanId);
    if (collapse) this.collapsed.add(spanId);
    else this.collapsed.delete(spanId);
    button.setAttribute("aria-expanded", collapse ? "false" : "true");
    button.classList.toggle("is-collapsed", collapse);
    // A row is hidden when any ancestor is collapsed.
    const parentOf = new Map(this.trace.spans.map((sp) => [sp.span_id, sp.tree_parent_span_id]));
    for (const { span } of this.rows) {
      let p = parentOf.get(span.span_id);
      let hidden = false;
      while (p && !hidden) {
        hidden = this.collapsed.has(p);
        p = parentOf.get(p);
      }
      this.rowEls.get(span.span_id).hidden = hidden;
    }
  }

  select(spanId) {
    for (const [id, el] of this.rowEls) el.classList.toggle("is-selected", id === spanId);
    this.onSelect(this.trace.spans.find((sp) => sp.span_id === spanId));
  }
}

function attributeTable(attributes, className = "") {
  const entries = Object.entries(attributes || {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return h("p", { class: "muted" }, "No attributes");
  return h("table", { class: ["attr-table", className] }, h("tbody", {}, entries.map(([key, value]) =>
    h("tr", {}, h("th", { class: "mono" }, key), h("td", { class: "mono" }, fmtValue(value))))));
}

function logItem(log, spanName) {
  const severity = String(log.severity || "INFO").toUpperCase();
  const attrs = h("div", { class: "log-attrs", hidden: true }, attributeTable(log.attributes));
  const item = h("li", { class: `log-item log-${severity.toLowerCase()}` },
    h("div", { class: "log-line" },
      h("span", { class: "log-time mono" }, fmtDateTime(log.time_ns)),
      h("span", { class: `sev sev-${severity.toLowerCase()}` }, severity),
      spanName ? h("span", { class: "log-span mono" }, spanName) : null,
      h("span", { class: "log-body" }, log.body)),
    attrs);
  item.querySelector(".log-line").addEventListener("click", () => {
    attrs.hidden = !attrs.hidden;
  });
  return item;
}

/** A span's duration in words; an artifact's is its life (open: so far). */
function durationText(span) {
  const life = untilNs(span) - span.start_ns;
  if (span.state === "open") return life > 0 ? `${fmtMs(life / 1e6)} so far` : "just announced";
  return life > 0 ? fmtMs(life / 1e6) : "instant";
}

/** An artifact's phases in the details: each one selects its row. */
function phaseList(span, trace, waterfall) {
  const phases = trace.spans.filter((sp) => span.phases?.includes(sp.span_id));
  if (!phases.length) return null;
  return [h("h3", { class: "details-heading" }, `Phases · ${phases.length}`),
    h("ul", { class: "phase-list" }, phases.map((phase) => h("li", {},
      h("button", { class: "phase-link", type: "button", onclick: () => waterfall.select(phase.span_id) },
        runMark(phase), h("span", {}, phaseLabel(phase)), h("span", { class: "muted mono" }, durationText(phase))))))];
}

function detailsPanel(span, trace, close, waterfall) {
  const logs = trace.logs.filter((l) => l.span_id === span.span_id);
  const error = span.status === "error";
  const meta = [
    ["Span id", span.span_id],
    ["Parent", span.parent_span_id || "— (root)"],
    ["Service", span.service || "—"],
    ["Start", fmtDateTime(span.start_ns)],
    ["Duration", durationText(span)],
    span.state ? ["State", span.state] : null,
    ["Status", span.status + (span.status_message ? ` — ${span.status_message}` : "")],
  ].filter(Boolean);
  return h("aside", { class: "panel span-details", id: "span-details", dataset: { spanId: span.span_id } },
    h("header", { class: "panel-header" },
      h("h2", { class: "panel-title" }, h("span", { class: `wf-dot fam-${spanFamily(span)}` }), h("span", { class: "details-name" }, span.name)),
      h("button", { class: "icon-button", type: "button", "aria-label": "Close details", onclick: close }, icon("close", 16))),
    h("div", { class: "panel-body details-body" },
      error ? h("div", { class: "details-error" }, icon("alert", 15), span.status_message || "This span failed") : null,
      untilNs(span) > span.start_ns
        ? h("button", { class: "button zoom-button", type: "button", onclick: () => waterfall.zoom(span.start_ns, untilNs(span)) },
          icon("search", 14), "Zoom the timeline to this span")
        : null,
      h("dl", { class: "meta-grid" }, meta.map(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, v)])),
      phaseList(span, trace, waterfall),
      h("h3", { class: "details-heading" }, "Attributes"),
      attributeTable(span.attributes, "span-attrs"),
      span.links?.length ? [h("h3", { class: "details-heading" }, "Links"),
        h("ul", { class: "link-list" }, span.links.map((l) => h("li", {},
          icon("link", 13), h("a", { class: "mono", href: traceHref(l.trace_id) }, `${l.trace_id.slice(0, 12)}… / ${l.span_id}`))))] : null,
      h("h3", { class: "details-heading" }, `Log records · ${logs.length}`),
      logs.length ? h("ul", { class: "log-list span-logs" }, logs.map((l) => logItem(l, null))) : h("p", { class: "muted" }, "No log records on this span")));
}

/** The trace's figures as the trace list shows them (the API gives both from one row): its root's
 * newest title, its duration (its spans' extent, first start to last end). An open root's life so
 * far (its striped bar, to its newest event) is a chip of its own: it can be days where the spans
 * sent so far last a minute. */
function traceHeader(trace, rows) {
  const root = rows[0]?.span;
  const errors = trace.spans.filter((sp) => sp.status === "error").length;
  const chips = [
    ["Trace", h("span", { class: "mono", id: "trace-id" }, trace.trace_id)],
    ["Spans", String(trace.spans.length)],
    ["Errors", h("span", { class: errors ? "error-count" : "" }, String(errors))],
    root?.state ? ["State", h("span", { id: "trace-state" }, root.state)] : null,
    root?.state === "open" ? ["Open for", h("span", { id: "trace-life" }, durationText(root))] : null,
    ["Duration", h("span", { id: "trace-duration" }, fmtTraceDuration(trace))],
    ["Started", fmtDateTime(trace.start_ns)],
  ];
  document.title = `${root ? root.name : "Trace"} · Intent Observe`;
  return pageHeader(root ? root.name : "Trace", trace.title || null,
    h("div", { class: "chips" }, chips.filter(Boolean).map(([k, v]) => h("span", { class: "chip" }, h("span", { class: "chip-key" }, k), v))));
}

async function fetchTrace(id) {
  return TRACE_ID.test(id) ? getJSON(`/api/traces/${id}`) : getJSON(`/api/intents/${encodeURIComponent(id)}`);
}

function notFound(id) {
  return emptyState("layers", "No such trace",
    h("p", {}, "Nothing in the store is called ", h("code", {}, id),
      ": neither a trace id (32 hexadecimal characters) nor an intent id such as INT-015."),
    h("a", { class: "button", href: "/traces" }, "All traces"));
}

startPage(async (app) => {
  const id = decodeURIComponent(window.location.pathname.split("/").filter(Boolean)[1] || "");
  let trace;
  try {
    trace = await fetchTrace(id);
  } catch (err) {
    if (err.status !== 404) throw err;
    mount(app, notFound(id));
    return;
  }
  if (!trace.spans?.length) {
    mount(app, emptyState("layers", "This trace has no spans"));
    return;
  }
  const detailsSlot = h("div", { class: "details-slot" });
  const layout = h("div", { class: "trace-layout" });
  const close = () => {
    mount(detailsSlot);
    layout.classList.remove("has-details");
    for (const el of layout.querySelectorAll(".wf-span.is-selected")) el.classList.remove("is-selected");
  };
  const waterfall = new Waterfall(trace, (span) => {
    mount(detailsSlot, detailsPanel(span, trace, close, waterfall));
    layout.classList.add("has-details");
  });
  const resetZoom = h("button", { class: "button button-ghost", type: "button", id: "reset-zoom", hidden: true,
    onclick: () => waterfall.zoom() }, "Show the whole trace");
  waterfall.onZoom = (zoomed) => {
    resetZoom.hidden = !zoomed;
  };
  const spanNames = new Map(trace.spans.map((sp) => [sp.span_id, sp.name]));
  const logs = [...trace.logs].sort((a, b) => a.time_ns - b.time_ns);
  mount(layout, panel({ title: "Waterfall", iconName: "layers", className: "panel-flush panel-waterfall",
    actions: [h("span", { class: "muted wf-hint" }, "double-click a span to zoom"), resetZoom] }, waterfall.render()), detailsSlot);
  mount(app,
    h("a", { class: "back-link", href: "/traces" }, "← All traces"),
    traceHeader(trace, waterfall.rows),
    layout,
    panel({ title: `Log records · ${logs.length}`, iconName: "activity", className: "panel-flush" },
      logs.length ? h("ul", { class: "log-list", id: "trace-logs" }, logs.map((l) => logItem(l, spanNames.get(l.span_id))))
        : emptyState("activity", "No log records")));
});
