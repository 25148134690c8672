// Alerts: the rules of the design page with their current state, and what changed when.
import { getJSON } from "../api.js";
import { h, icon, mount } from "../dom.js";
import { fmtAgo, fmtDateTime, fmtSeconds, fmtValue } from "../format.js";
import { emptyState, pageHeader, panel, startPage, traceHref } from "../shell.js";

const STATE_ORDER = { firing: 0, pending: 1, resolved: 2, inactive: 3 };
const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };

function stateBadge(state) {
  return h("span", { class: `state-badge state-${state}` }, h("span", { class: "state-dot" }), state);
}

function alertCard(alert) {
  const labels = Object.entries(alert.labels || {});
  const disabled = alert.enabled === false;
  return h("article", { class: ["alert-card", `sev-card-${alert.severity}`, `is-${alert.state}`, disabled ? "is-disabled" : ""],
    dataset: { alert: alert.name, state: alert.state } },
    h("header", { class: "alert-head" },
      h("div", { class: "alert-name" }, icon(alert.state === "firing" ? "alert" : "bell", 16), h("h3", {}, alert.name)),
      disabled ? h("span", { class: "state-badge" }, "disabled") : stateBadge(alert.state)),
    h("p", { class: "alert-summary" }, alert.summary || ""),
    h("div", { class: "alert-meta" },
      h("span", { class: `severity severity-${alert.severity}` }, alert.severity),
      alert.since_ns ? h("span", { class: "muted", title: fmtDateTime(alert.since_ns) }, sinceText(alert)) : null,
      alert.value !== null && alert.value !== undefined ? h("span", { class: "muted mono" }, `value ${fmtValue(alert.value)}`) : null),
    labels.length ? h("div", { class: "label-chips" }, labels.map(([k, v]) =>
      labelChip(k, v))) : null);
}

function sinceText(alert) {
  if (alert.state === "firing" || alert.state === "pending") {
    return `${alert.state} for ${fmtSeconds((Date.now() - alert.since_ns / 1e6) / 1000)}`;
  }
  return `${alert.state} ${fmtAgo(alert.since_ns)}`;
}

// Labels that name an intent or a contract lead to it.
function labelChip(key, value) {
  const text = fmtValue(value);
  const target = key === "intent_id" ? traceHref(text) : key === "contract_id" ? `/events?q=${encodeURIComponent(text)}` : null;
  const chip = h(target ? "a" : "span", { class: "label-chip mono", href: target }, h("span", { class: "muted" }, `${key}=`), text);
  return chip;
}

function history(items) {
  if (!items.length) return emptyState("bell", "No state changes yet");
  const sorted = [...items].sort((a, b) => b.at_ns - a.at_ns);
  return h("ol", { class: "timeline", id: "alert-history" }, sorted.map((item) =>
    h("li", { class: `timeline-item is-${item.state}` },
      h("span", { class: "timeline-dot" }),
      h("div", { class: "timeline-main" },
        h("div", { class: "timeline-head" }, h("b", {}, item.name), stateBadge(item.state),
          h("span", { class: "muted", title: fmtDateTime(item.at_ns) }, fmtDateTime(item.at_ns))),
        h("p", { class: "timeline-summary" }, item.summary || "")))));
}

function counters(alerts) {
  const firing = alerts.filter((a) => a.state === "firing");
  const count = (sev) => firing.filter((a) => a.severity === sev).length;
  return h("div", { class: "alert-counters" },
    h("span", { class: `counter ${firing.length ? "counter-firing" : "counter-ok"}` },
      icon(firing.length ? "alert" : "check", 15), firing.length ? `${firing.length} firing` : "All clear"),
    firing.length ? h("span", { class: "muted" }, `${count("critical")} critical · ${count("warning")} warning · ${count("info")} info`) : null);
}

startPage(async (app) => {
  const render = async () => {
    const data = await getJSON("/api/alerts");
    const alerts = [...data.alerts].sort((a, b) =>
      (STATE_ORDER[a.state] ?? 3) - (STATE_ORDER[b.state] ?? 3) || (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3));
    mount(app,
      pageHeader("Alerts", "Rules evaluated continuously on the store; firing alerts are also sent to the configured webhooks.",
        data.evaluated_ns ? h("span", { class: "muted evaluated", title: fmtDateTime(data.evaluated_ns) }, `evaluated ${fmtAgo(data.evaluated_ns)}`) : null,
        counters(alerts)),
      alerts.length ? h("div", { class: "alert-grid", id: "alert-grid" }, alerts.map(alertCard))
        : emptyState("bell", "No alert rules loaded"),
      panel({ title: "History", iconName: "clock" }, history(data.history || [])));
  };
  await render();
  setInterval(() => render().catch(() => {}), 15000);
});
