// What every page shares: theme switch, the live indicator, panels, empty and error states.
import { h, icon, mount } from "./dom.js";
import { fmtInt } from "./format.js";

const THEME_KEY = "intent-observe-theme";

function systemTheme() {
  return window.matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

function applyTheme(theme) {
  // No stored choice → follow prefers-color-scheme (the stylesheet does so by itself).
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  const button = document.getElementById("theme-toggle");
  if (button) {
    const current = theme || systemTheme();
    button.replaceChildren(icon(current === "dark" ? "sun" : "moon", 18));
    button.title = current === "dark" ? "Switch to light theme" : "Switch to dark theme";
  }
}

function setupTheme() {
  let stored = null;
  try {
    stored = localStorage.getItem(THEME_KEY);
  } catch {
    // storage may be disabled; the system theme still applies
  }
  applyTheme(stored);
  document.getElementById("theme-toggle")?.addEventListener("click", () => {
    const next = (document.documentElement.dataset.theme || systemTheme()) === "dark" ? "light" : "dark";
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch {
      // the choice lasts for this page only
    }
    applyTheme(next);
  });
  window.matchMedia("(prefers-color-scheme: light)").addEventListener("change", () =>
    applyTheme(document.documentElement.dataset.theme || null));
}

const LIVE_LABELS = { idle: "idle", connecting: "connecting", live: "live", reconnecting: "reconnecting",
  "tail-down": "tail down" };

export function setLiveState(state, detail = null) {
  const pill = document.getElementById("live-pill");
  if (!pill) return;
  pill.dataset.state = state;
  pill.querySelector(".live-label").textContent = LIVE_LABELS[state] || state;
  pill.title = detail ? `Live stream: ${detail}` : "Live stream";
}

/** Start a page: theme, then `render(app)`; a failure is shown instead of a blank page. */
// "/" jumps to the page's search box, as in most tools of the kind.
function setupSearchShortcut() {
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.closest("input, textarea, select, [contenteditable]")) return;
    const search = document.querySelector('#app input[type="search"]');
    if (!search) return;
    e.preventDefault();
    search.focus();
  });
}

export function startPage(render) {
  setupTheme();
  setupSearchShortcut();
  const app = document.getElementById("app");
  Promise.resolve()
    .then(() => render(app))
    .catch((err) => mount(app, errorState(err)));
}

export function pageHeader(title, subtitle, ...actions) {
  return h("div", { class: "page-header" },
    h("div", { class: "page-titles" }, h("h1", {}, title), subtitle ? h("p", { class: "subtitle" }, subtitle) : null),
    h("div", { class: "page-actions" }, actions));
}

export function panel({ title, iconName, actions = [], className = "", id = null }, ...body) {
  return h("section", { class: `panel ${className}`, id },
    h("header", { class: "panel-header" },
      h("h2", { class: "panel-title" }, iconName ? icon(iconName, 15) : null, h("span", {}, title)),
      h("div", { class: "panel-actions" }, actions)),
    h("div", { class: "panel-body" }, body));
}

function errorState(err) {
  return h("div", { class: "state state-error", role: "alert" },
    icon("alert", 28),
    h("h3", {}, "Could not load this view"),
    h("p", { class: "state-detail" }, err && err.message ? err.message : String(err)),
    h("button", { class: "button", type: "button", onclick: () => window.location.reload() }, "Retry"));
}

export function emptyState(iconName, title, ...body) {
  return h("div", { class: "state state-empty" }, icon(iconName, 28), h("h3", {}, title), body);
}

/** A segmented control; `onChange(key)` fires on a new choice. */
export function segmented(options, selected, onChange, label) {
  const group = h("div", { class: "segmented", role: "group", "aria-label": label });
  for (const option of options) {
    const button = h("button", { type: "button", class: "segment", dataset: { key: option.key },
      "aria-pressed": option.key === selected ? "true" : "false" }, option.label);
    button.addEventListener("click", () => {
      for (const b of group.children) b.setAttribute("aria-pressed", b === button ? "true" : "false");
      onChange(option.key);
    });
    group.append(button);
  }
  return group;
}

/** Link to a trace page: by trace id, or by intent id (the trace page resolves it). */
export function traceHref(traceIdOrIntent) {
  return `/traces/${encodeURIComponent(traceIdOrIntent)}`;
}

/** A stat tile: label with icon, a big value, a foot line; a link when `href` is given. */
export function statTile({ key, iconName, label, value, foot, href = null, className = "" }) {
  return h(href ? "a" : "div", { class: ["stat-tile", `stat-${key}`, className], href, dataset: { stat: key } },
    h("div", { class: "stat-label" }, icon(iconName, 15), h("span", {}, label)),
    h("div", { class: "stat-value" }, value),
    h("div", { class: "stat-foot" }, foot));
}

/** "12 ✓  3 ✗" as two coloured counts. */
export function passFail(good, bad, [goodTitle, badTitle] = ["passed", "failed"]) {
  return [h("span", { class: "contracts-passed", title: goodTitle }, fmtInt(good), h("small", {}, " ✓")),
    h("span", { class: "contracts-failed", title: badTitle }, fmtInt(bad), h("small", {}, " ✗"))];
}
