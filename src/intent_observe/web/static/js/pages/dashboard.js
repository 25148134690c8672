// The default dashboard: loop counts, cycle time, trust distribution, live event stream.
import { getJSON, RANGES, sinceForRange } from "../api.js";
import { columns, cycleTimeChart, ratioBar, sparkline, trustChart } from "../charts.js";
import { h, mount } from "../dom.js";
import { eventRow, eventTableHead } from "../event-row.js";
import { fmtAgo, fmtCompact, fmtInt } from "../format.js";
import { emptyState, pageHeader, panel, passFail, segmented, setLiveState, startPage, statTile } from "../shell.js";
import { LiveStream, RateMeter } from "../stream.js";

const STREAM_ROWS = 200;
const INITIAL_ROWS = 50;

const state = { range: "all", refreshTimer: null, paused: false, held: [] };

// Where a click on each tile leads: the view that lists what it counts.
const TILE_LINKS = {
  signals: "/events?type=signal.*",
  intents: "/traces",
  specs: "/events?type=spec.*",
  contracts: "/events?type=contract.*",
  events: "/events",
};

function tile(key, iconName, label, value, foot) {
  return statTile({ key, iconName, label, value, foot, href: TILE_LINKS[key] });
}

function contractsTile(passed, failed) {
  const total = passed + failed;
  return tile("contracts", "contract", "Contracts", passFail(passed, failed),
    [ratioBar(passed, failed, `${passed} passed, ${failed} failed`),
      h("span", { class: "muted" }, total ? `${Math.round((passed / total) * 100)}% pass rate` : "no evaluations yet")]);
}

// What the Specs tile says of them: how many no intent claims (they have traces of their own).
function specsFoot(summary) {
  const alone = summary.specs_without_intent ?? 0;
  if (!summary.specs) return "none yet";
  return alone ? `${fmtInt(alone)} with no intent` : "all under intents";
}

function renderTiles(summary) {
  const perHour = (summary.events_per_hour || []).map((b) => b.count);
  return h("div", { class: "stat-row" },
    tile("signals", "signal", "Signals", fmtInt(summary.signals),
      h("span", { class: "muted" }, `${fmtInt(summary.orphans)} orphan${summary.orphans === 1 ? "" : "s"}`)),
    tile("intents", "intent", "Intents", fmtInt(summary.intents),
      h("span", { class: "muted" }, `${fmtInt(summary.intents_open ?? 0)} open`)),
    tile("specs", "spec", "Specs", fmtInt(summary.specs), h("span", { class: "muted" }, specsFoot(summary))),
    contractsTile(summary.contracts_passed ?? 0, summary.contracts_failed ?? 0),
    tile("events", "activity", "Events", fmtCompact(summary.events_total),
      [columns(perHour, { className: "tile-columns" }),
        h("span", { class: "muted" }, `last 48 h · last event ${fmtAgo(summary.last_event_ns)}`)]));
}

function renderSummary(summary) {
  mount(document.getElementById("tiles"), renderTiles(summary));
  mount(document.getElementById("cycle-body"), cycleTimeChart(summary.cycle_time));
  mount(document.getElementById("trust-body"), trustChart(summary.trust));
}

async function loadSummary() {
  renderSummary(await getJSON("/api/summary", { since: sinceForRange(state.range) }));
}

// A burst of appended lines refreshes the counts once, shortly after it ends.
function scheduleSummaryRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => loadSummary().catch(() => {}), 400);
}

function streamPanel(meter) {
  const rate = h("span", { class: "rate-value mono", id: "rate-value" }, "0.0 ev/s");
  const spark = h("span", { class: "rate-spark", id: "rate-spark" }, sparkline(meter.series(), { height: 24 }));
  const table = h("table", { class: "event-table", id: "stream-table" },
    eventTableHead(), h("tbody", { id: "stream-body" }));
  return panel({ title: "Live event stream", iconName: "activity", className: "panel-stream panel-flush",
    actions: [h("div", { class: "rate", title: "Events per second, last 2 minutes" }, spark, rate), pauseButton(),
      h("a", { class: "button button-ghost", href: "/events" }, "Search events")] },
  h("div", { class: "table-scroll stream-scroll" }, table),
  h("div", { id: "stream-empty", hidden: true },
    emptyState("activity", "Waiting for events",
      h("p", {}, "Append a line to ", h("code", {}, ".intent/events/events.jsonl"),
        " or run ", h("code", {}, "intent-observe up --demo"), " and it appears here within a second."))));
}

function pauseButton() {
  const button = h("button", { class: "button button-ghost", type: "button", id: "stream-pause", "aria-pressed": "false" }, "Pause");
  button.addEventListener("click", () => {
    state.paused = !state.paused;
    button.setAttribute("aria-pressed", String(state.paused));
    if (!state.paused) {
      for (const event of state.held.splice(0)) addStreamRow(event, { fresh: true });
    }
    updatePauseLabel();
  });
  return button;
}

function updatePauseLabel() {
  const button = document.getElementById("stream-pause");
  if (!button) return;
  button.textContent = state.paused ? (state.held.length ? `Resume · ${state.held.length} new` : "Resume") : "Pause";
}

function receiveLive(event) {
  if (state.paused) {
    state.held.push(event);
    updatePauseLabel();
  } else {
    addStreamRow(event, { fresh: true });
  }
}

function addStreamRow(event, { fresh }) {
  const body = document.getElementById("stream-body");
  const row = eventRow(event);
  if (fresh) row.classList.add("row-new");
  body.prepend(row);
  while (body.rows.length > STREAM_ROWS) body.deleteRow(body.rows.length - 1);
  document.getElementById("stream-empty").hidden = true;
}

// A backlog arrives as hundreds of events a second: redraw the rate once per frame at most.
let ratePending = false;
function scheduleRateUpdate(meter) {
  if (ratePending) return;
  ratePending = true;
  requestAnimationFrame(() => {
    ratePending = false;
    updateRate(meter);
  });
}

function updateRate(meter) {
  const rate = meter.recentRate();
  document.getElementById("rate-value").textContent = `${rate.toFixed(rate >= 10 ? 0 : 1)} ev/s`;
  mount(document.getElementById("rate-spark"), sparkline(meter.series(), { height: 24 }));
}

async function startStream(meter) {
  // The newest events by their time, newest on top; then what arrives after them, on top as it
  // arrives (a line written down late too: it is new here).
  const { events, last_id: lastId } = await getJSON("/api/events", { limit: INITIAL_ROWS });
  for (const event of [...events].reverse()) {
    addStreamRow(event, { fresh: false });
    meter.addAt(event.time_ns / 1e6); // events of the last two minutes start the rate off
  }
  updateRate(meter);
  document.getElementById("stream-empty").hidden = events.length > 0;
  new LiveStream({
    afterId: lastId,
    onEvent: (event) => {
      receiveLive(event);
      meter.add();
      scheduleRateUpdate(meter);
      scheduleSummaryRefresh();
    },
    onSummary: (summary) => {
      if (state.range === "all") renderSummary(summary);
    },
    onState: setLiveState,
  }).start();
  setInterval(() => updateRate(meter), 2000);
}

function layout(app, meter) {
  const rangePicker = segmented(RANGES, state.range, (key) => {
    state.range = key;
    loadSummary().catch(() => {});
  }, "Time range");
  mount(app,
    pageHeader("Intent loop", "Signals noticed, promoted to intents, specified and verified by contracts.",
      rangePicker),
    h("div", { id: "tiles", class: "tiles" }),
    h("div", { class: "row row-2" },
      panel({ title: "Cycle time per stage", iconName: "clock", className: "panel-cycle" },
        h("div", { id: "cycle-body" })),
      panel({ title: "Trust distribution · open signals", iconName: "shield", className: "panel-trust" },
        h("div", { id: "trust-body" }))),
    streamPanel(meter));
}

startPage(async (app) => {
  const meter = new RateMeter();
  const summary = await getJSON("/api/summary");
  layout(app, meter);
  renderSummary(summary);
  await startStream(meter);
});
