// Event search: free text, event type glob, source, autonomy level and time range,
// mirrored in the URL so a filtered view can be shared or reloaded.
import { getJSON, RANGES, sinceForRange } from "../api.js";
import { h, icon, mount } from "../dom.js";
import { eventRow, eventTableHead, levelBadge } from "../event-row.js";
import { fmtInt } from "../format.js";
import { emptyState, pageHeader, panel, setLiveState, startPage, traceHref } from "../shell.js";
import { LiveStream } from "../stream.js";

const PAGE_SIZE = 100;
const TYPE_SUGGESTIONS = ["signal.*", "intent.*", "spec.*", "contract.*", "contract.assertion.failed",
  "contract.completed", "observation.*", "system.*", "*.failed"];
const FIELDS = ["q", "type", "source", "autonomy_level", "range", "from", "to"];

function readFilters() {
  const params = new URLSearchParams(window.location.search);
  const filters = Object.fromEntries(FIELDS.map((f) => [f, params.get(f) || ""]));
  filters.range ||= "all";
  return filters;
}

function writeFilters(filters) {
  const url = new URL(window.location.href);
  for (const f of FIELDS) {
    const value = filters[f];
    if (value && !(f === "range" && value === "all")) url.searchParams.set(f, value);
    else url.searchParams.delete(f);
  }
  window.history.replaceState(null, "", url);
}

function localToNs(value) {
  if (!value) return "";
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? "" : String(BigInt(ms) * 1000000n);
}

function apiParams(filters, before) {
  const custom = filters.range === "custom";
  return {
    q: filters.q, type: filters.type, source: filters.source, autonomy_level: filters.autonomy_level,
    since: custom ? localToNs(filters.from) : sinceForRange(filters.range),
    until: custom ? localToNs(filters.to) : "",
    limit: PAGE_SIZE, before: before ?? "",
  };
}

function field(label, control) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control);
}

function filterBar(filters, onChange) {
  const input = (name, attrs) => {
    const el = h("input", { class: "input", name, value: filters[name], ...attrs });
    el.addEventListener("input", () => onChange(name, el.value.trim(), true));
    return el;
  };
  const level = h("select", { class: "select", name: "autonomy_level" },
    h("option", { value: "" }, "Any level"),
    ["L0", "L1", "L2", "L3", "L4"].map((l) => h("option", { value: l, selected: filters.autonomy_level === l }, l)));
  level.addEventListener("change", () => onChange("autonomy_level", level.value, false));
  const range = h("select", { class: "select", name: "range" },
    RANGES.map((r) => h("option", { value: r.key, selected: filters.range === r.key }, r.key === "all" ? "All time" : `Last ${r.label}`)),
    h("option", { value: "custom", selected: filters.range === "custom" }, "Custom…"));
  const from = h("input", { class: "input", type: "datetime-local", name: "from", value: filters.from, "aria-label": "From" });
  const to = h("input", { class: "input", type: "datetime-local", name: "to", value: filters.to, "aria-label": "To" });
  const custom = h("div", { class: "custom-range", hidden: filters.range !== "custom" }, from, h("span", { class: "muted" }, "→"), to);
  range.addEventListener("change", () => {
    custom.hidden = range.value !== "custom";
    onChange("range", range.value, false);
  });
  from.addEventListener("change", () => onChange("from", from.value, false));
  to.addEventListener("change", () => onChange("to", to.value, false));
  const q = input("q", { type: "search", placeholder: "Search text, ids, titles…", class: "input input-search", "aria-label": "Search" });
  return h("div", { class: "filter-bar panel" },
    h("div", { class: "filter-search search-wrap" }, icon("search", 15), q, h("kbd", { title: "Press / to search" }, "/")),
    field("Event type", [input("type", { placeholder: "e.g. contract.*", list: "type-suggestions" }),
      h("datalist", { id: "type-suggestions" }, TYPE_SUGGESTIONS.map((t) => h("option", { value: t })))]),
    field("Source", [input("source", { placeholder: "any", list: "source-suggestions" }), h("datalist", { id: "source-suggestions" })]),
    field("Autonomy", level),
    field("Time range", h("div", { class: "range-controls" }, range, custom)));
}

function detailRow(event) {
  const items = [
    ["Event id", event.event_id], ["Time", event.time_iso], ["Actor", event.actor || "—"],
    ["Intent", event.intent_id || "—"], ["Artifact type", event.artifact_type || "—"],
    ["Trace", event.trace_id || "—"], ["Span", event.span_id || "—"],
  ];
  return h("tr", { class: "event-detail-row" }, h("td", { colspan: "6" },
    h("div", { class: "event-detail" },
      h("p", { class: "event-detail-text" }, event.detail || ""),
      h("dl", { class: "meta-grid meta-inline" }, items.map(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, v)])),
      event.trace_id ? h("a", { class: "button", href: traceHref(event.trace_id) }, icon("layers", 14), "Open trace") : null)));
}

function resultRow(event) {
  const row = eventRow(event, { fullTime: true });
  row.classList.add("clickable");
  row.append(h("td", { class: "col-level" }, levelBadge(event.autonomy_level)));
  let detail = null;
  row.addEventListener("click", (e) => {
    if (e.target.closest("a")) return;
    if (detail) {
      detail.remove();
      detail = null;
    } else {
      detail = detailRow(event);
      row.after(detail);
    }
    row.classList.toggle("is-open", Boolean(detail));
  });
  return row;
}

class Results {
  constructor(container) {
    this.container = container;
    this.sources = new Set();
    this.count = 0;
  }

  async load(filters) {
    const token = (this.token = Symbol("search"));
    const page = await getJSON("/api/events", apiParams(filters));
    if (token !== this.token) return; // a newer search has started
    this.count = 0;
    this.body = h("tbody", { id: "events-body" });
    this.more = h("div", { class: "load-more" });
    this.counter = h("span", { class: "result-count muted" });
    mount(this.container,
      panel({ title: "Events", iconName: "activity", className: "panel-flush", actions: [this.counter] },
        h("div", { class: "table-scroll" },
          h("table", { class: "event-table", id: "events-table" }, eventTableHead(["Level"]), this.body)),
        h("div", { class: "events-empty", hidden: true },
          emptyState("search", "No events match", h("p", {}, "Widen the time range or clear a filter."))),
        this.more));
    this.append(page, filters);
  }

  append(page, filters) {
    for (const event of page.events) {
      this.body.append(resultRow(event));
      if (event.source) this.sources.add(event.source);
    }
    this.count += page.events.length;
    this.counter.textContent = `${fmtInt(this.count)} shown${page.next_before ? " · more available" : ""}`;
    this.container.querySelector(".events-empty").hidden = this.count > 0;
    mount(document.getElementById("source-suggestions"), [...this.sources].sort().map((src) => h("option", { value: src })));
    mount(this.more, page.next_before
      ? h("button", { class: "button", type: "button", onclick: () => this.loadMore(filters, page.next_before) }, "Load older events")
      : null);
  }

  async loadMore(filters, before) {
    this.append(await getJSON("/api/events", apiParams(filters, before)), filters);
  }
}

// New events do not reorder the results under the reader's eyes: a banner offers them.
function newEventsBanner(onRefresh) {
  const count = h("span", {});
  const banner = h("button", { class: "new-events", type: "button", id: "new-events", hidden: true }, icon("activity", 14), count,
    h("span", { class: "new-events-action" }, "Refresh results"));
  let pending = 0;
  banner.addEventListener("click", () => {
    pending = 0;
    banner.hidden = true;
    onRefresh();
  });
  const arrived = () => {
    pending += 1;
    count.textContent = `${pending} new event${pending === 1 ? "" : "s"} arrived`;
    banner.hidden = false;
  };
  const reset = () => {
    pending = 0;
    banner.hidden = true;
  };
  return { banner, arrived, reset };
}

startPage(async (app) => {
  const filters = readFilters();
  const resultsEl = h("div", { class: "events-results" });
  const results = new Results(resultsEl);
  let timer = null;
  const search = () => {
    writeFilters(filters);
    live.reset();
    results.load(filters).catch((err) => mount(resultsEl, emptyState("alert", "Search failed", h("p", {}, err.message))));
  };
  const live = newEventsBanner(search);
  const onChange = (name, value, debounce) => {
    filters[name] = value;
    clearTimeout(timer);
    if (debounce) timer = setTimeout(search, 250);
    else search();
  };
  mount(app, pageHeader("Events", "Every line of the events files, and each event the artifact files' front matter adds: newest first by their time.", live.banner),
    filterBar(filters, onChange), resultsEl);
  await results.load(filters);
  new LiveStream({ onEvent: live.arrived, onState: setLiveState }).start();
});
