// Claude Code: sessions, tokens, cost, tool decisions and API errors from its own
// OpenTelemetry export, linked to the contract and intent it worked on when known.
import { getJSON } from "../api.js";
import { ratioBar } from "../charts.js";
import { h, mount } from "../dom.js";
import { fmtAgo, fmtCompact, fmtDateTime, fmtInt, fmtSeconds, fmtUsd } from "../format.js";
import { emptyState, pageHeader, panel, passFail, startPage, statTile, traceHref } from "../shell.js";

const TOKEN_KINDS = [["input", "input"], ["output", "output"], ["cacheRead", "cache read"], ["cacheCreation", "cache write"]];

const tokenTotal = (tokens) => TOKEN_KINDS.reduce((sum, [k]) => sum + Number(tokens?.[k] || 0), 0);

function sumSessions(sessions) {
  const totals = { tokens: {}, cost_usd: 0, api_requests: 0, api_errors: 0, accept: 0, reject: 0 };
  for (const sn of sessions) {
    for (const [k] of TOKEN_KINDS) totals.tokens[k] = (totals.tokens[k] || 0) + Number(sn.tokens?.[k] || 0);
    totals.cost_usd += Number(sn.cost_usd || 0);
    totals.api_requests += Number(sn.api_requests || 0);
    totals.api_errors += Number(sn.api_errors || 0);
    totals.accept += Number(sn.tool_decisions?.accept || 0);
    totals.reject += Number(sn.tool_decisions?.reject || 0);
  }
  return totals;
}

function connectHelp() {
  const lines = [
    "export CLAUDE_CODE_ENABLE_TELEMETRY=1",
    "export OTEL_METRICS_EXPORTER=otlp",
    "export OTEL_LOGS_EXPORTER=otlp",
    "export OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
    "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317",
    "# only when up runs with INTENT_OBSERVE_TOKEN set:",
    'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $INTENT_OBSERVE_TOKEN"',
    "# optional: tie the session to the contract it works on",
    "export OTEL_RESOURCE_ATTRIBUTES=intent.contract.id=CON-091,intent.id=INT-015",
    "claude",
  ];
  return emptyState("bot", "No Claude Code telemetry yet",
    h("p", {}, "Claude Code exports its own OpenTelemetry metrics and events. Point it at the OTLP receiver of ",
      h("code", {}, "intent-observe up"), " and its sessions, tokens, cost, tool decisions and API errors appear here."),
    h("pre", { class: "code-block", id: "claude-connect" }, lines.join("\n")),
    h("p", { class: "muted" }, "Sessions that carry ", h("code", {}, "intent.contract.id"), " or ", h("code", {}, "intent.id"),
      " link to the trace of that contract's intent."));
}

const decisionBar = (accept, reject) => ratioBar(accept, reject, `${accept} accepted, ${reject} rejected`);

function tile(label, iconName, value, foot) {
  return statTile({ key: label.toLowerCase().replace(/\W+/g, "-"), iconName, label, value, foot, className: "stat-claude" });
}

function tiles(sessions, totals) {
  return h("div", { class: "stat-row" },
    tile("Sessions", "bot", fmtInt(sessions.length), h("span", { class: "muted" }, `latest ${fmtAgo(Math.max(...sessions.map((s) => s.start_ns)))}`)),
    tile("Tokens", "layers", fmtCompact(tokenTotal(totals.tokens)),
      h("span", { class: "muted" }, `${fmtCompact(totals.tokens.input)} in · ${fmtCompact(totals.tokens.output)} out · ${fmtCompact(totals.tokens.cacheRead)} cached`)),
    tile("Cost", "activity", fmtUsd(totals.cost_usd), h("span", { class: "muted" }, `${fmtUsd(sessions.length ? totals.cost_usd / sessions.length : 0)} per session`)),
    tile("API errors", "alert", h("span", { class: totals.api_errors ? "contracts-failed" : "" }, fmtInt(totals.api_errors)),
      h("span", { class: "muted" }, `of ${fmtInt(totals.api_requests)} requests`)),
    tile("Tool decisions", "check", passFail(totals.accept, totals.reject, ["accepted", "rejected"]),
      [decisionBar(totals.accept, totals.reject), h("span", { class: "muted" }, "accepted · rejected")]));
}

function workLink(contractId, intentId) {
  if (!contractId && !intentId) return h("span", { class: "muted" }, "not linked");
  const label = [contractId, intentId].filter(Boolean).join(" · ");
  if (intentId) return h("a", { class: "mono", href: traceHref(intentId), title: "Open the intent's trace" }, label);
  return h("a", { class: "mono", href: `/events?q=${encodeURIComponent(contractId)}` }, label);
}

function sessionsTable(sessions) {
  const sorted = [...sessions].sort((a, b) => b.start_ns - a.start_ns);
  return h("div", { class: "table-scroll" }, h("table", { id: "claude-sessions" },
    h("thead", {}, h("tr", {}, ["Session", "Started", "Duration", "Worked on", "Tokens", "Cost", "Requests", "Errors", "Tool decisions"]
      .map((l, i) => h("th", { class: i >= 4 && i <= 7 ? "num" : "" }, l)))),
    h("tbody", {}, sorted.map((sn) => h("tr", { dataset: { session: sn.session_id } },
      h("td", { class: "mono", title: sn.session_id }, String(sn.session_id).slice(0, 8)),
      h("td", { title: fmtDateTime(sn.start_ns) }, fmtAgo(sn.start_ns)),
      h("td", {}, sn.end_ns && sn.start_ns ? fmtSeconds((sn.end_ns - sn.start_ns) / 1e9) : "—"),
      h("td", {}, workLink(sn.contract_id, sn.intent_id)),
      h("td", { class: "num", title: TOKEN_KINDS.map(([k, l]) => `${l}: ${fmtInt(sn.tokens?.[k] || 0)}`).join("\n") }, fmtCompact(tokenTotal(sn.tokens))),
      h("td", { class: "num" }, fmtUsd(sn.cost_usd)),
      h("td", { class: "num" }, fmtInt(sn.api_requests)),
      h("td", { class: "num" }, sn.api_errors ? h("span", { class: "error-count" }, fmtInt(sn.api_errors)) : h("span", { class: "muted" }, "0")),
      h("td", { class: "col-decisions" }, h("div", { class: "decisions" },
        decisionBar(sn.tool_decisions?.accept || 0, sn.tool_decisions?.reject || 0),
        h("span", { class: "mono muted" }, `${sn.tool_decisions?.accept || 0}/${sn.tool_decisions?.reject || 0}`))))))));
}

function perContract(rows) {
  if (!rows?.length) return null;
  const maxCost = Math.max(...rows.map((r) => r.cost_usd || 0)) || 1;
  return panel({ title: "Cost per contract", iconName: "contract", className: "panel-flush" },
    h("div", { class: "table-scroll" }, h("table", { id: "claude-contracts" },
      h("thead", {}, h("tr", {}, h("th", {}, "Contract"), h("th", { class: "num" }, "Tokens"), h("th", {}, "Cost"), h("th", { class: "num" }, "Errors"))),
      h("tbody", {}, rows.map((r) => {
        const bar = h("span", { class: "dur-bar" });
        bar.style.width = `${Math.max(1.5, ((r.cost_usd || 0) / maxCost) * 100)}%`;
        return h("tr", {},
          h("td", {}, workLink(r.contract_id, r.intent_id)),
          h("td", { class: "num" }, fmtCompact(tokenTotal(r.tokens))),
          h("td", { class: "col-duration" }, h("div", { class: "dur-cell" }, h("span", { class: "dur-track" }, bar),
            h("span", { class: "dur-value mono" }, fmtUsd(r.cost_usd)))),
          h("td", { class: "num" }, fmtInt(r.errors)));
      })))));
}

startPage(async (app) => {
  const data = await getJSON("/api/claude");
  const sessions = data.sessions || [];
  const header = pageHeader("Claude Code", "Sessions exported by Claude Code over OTLP, linked to the work they did.");
  if (!sessions.length) {
    mount(app, header, h("div", { class: "panel" }, connectHelp()));
    return;
  }
  mount(app, header, tiles(sessions, sumSessions(sessions)),
    panel({ title: `Sessions · ${sessions.length}`, iconName: "bot", className: "panel-flush" }, sessionsTable(sessions)),
    perContract(data.per_contract));
});
