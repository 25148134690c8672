// One row of an event table (live stream and event search share it).
import { h } from "./dom.js";
import { fmtClock, fmtDateTime, isFailureType, typeFamily } from "./format.js";
import { traceHref } from "./shell.js";

function typeBadge(type) {
  return h("span", { class: ["type-badge", `fam-${typeFamily(type)}`, isFailureType(type) ? "is-failure" : ""] },
    type || "unknown");
}

export function levelBadge(level) {
  return level ? h("span", { class: `level-badge level-${level}` }, level) : h("span", { class: "muted" }, "—");
}

export function eventRow(event, { fullTime = false } = {}) {
  const artifact = event.artifact_id
    ? h("a", { class: "artifact-link mono", href: traceHref(event.trace_id || event.artifact_id),
      title: "Open the trace" }, event.artifact_id)
    : h("span", { class: "muted" }, "—");
  return h("tr", { class: "event-row", dataset: { eventId: event.event_id || "", id: event.id ?? "" } },
    h("td", { class: "col-time mono", title: event.time_iso || "" },
      fullTime ? fmtDateTime(event.time_ns) : fmtClock(event.time_ns)),
    h("td", { class: "col-type" }, typeBadge(event.type)),
    h("td", { class: "col-artifact" }, artifact),
    h("td", { class: "col-source" }, event.source ? h("span", { class: "source-chip" }, event.source) : h("span", { class: "muted" }, "—")),
    h("td", { class: "col-detail" }, h("span", { class: "detail-text" }, event.detail || "")));
}

export function eventTableHead(extra = []) {
  return h("thead", {}, h("tr", {},
    ["Time", "Type", "Artifact", "Source", "Detail", ...extra].map((label) =>
      h("th", { scope: "col" }, label))));
}
