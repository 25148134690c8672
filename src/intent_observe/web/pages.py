"""The HTML pages of the Intent Observe web app and the static assets they load.

Pages are fixed shells: no data from events or from the URL is ever written into the HTML,
the browser code fetches the JSON API and renders with DOM APIs (textContent), so an event
title cannot become markup. Assets ship inside the package; nothing loads from the internet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from intent_observe.version import __version__

STATIC_DIR = (Path(__file__).parent / "static").resolve()

# Only these kinds of files are served from STATIC_DIR, with an explicit type so the
# browser never has to sniff (module scripts require a JavaScript MIME type).
ASSET_TYPES: dict[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

# Scripts, styles, fonts and API calls all come from this origin; nothing inline runs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Page:
    key: str
    title: str
    script: str


DASHBOARD = Page("dashboard", "Dashboard", "dashboard.js")
TRACES = Page("traces", "Traces", "traces.js")
TRACE = Page("traces", "Trace", "trace.js")
EVENTS = Page("events", "Events", "events.js")
ALERTS = Page("alerts", "Alerts", "alerts.js")
CLAUDE = Page("claude", "Claude Code", "claude.js")
DOCS = Page("docs", "API", "docs.js")  # the OpenAPI reference, in place of Swagger UI from a CDN

# (page key, link, label) in navigation order.
NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("dashboard", "/", "Dashboard"),
    ("traces", "/traces", "Traces"),
    ("events", "/events", "Events"),
    ("alerts", "/alerts", "Alerts"),
    ("claude", "/claude", "Claude Code"),
)

router = APIRouter(include_in_schema=False)


def _asset(path: str) -> str:
    # The version in the URL makes a new release load fresh assets despite caching.
    return f"/static/{path}?v={__version__}"


def _navigation(active: str) -> str:
    links = []
    for key, href, label in NAVIGATION:
        current = ' aria-current="page"' if key == active else ""
        links.append(f'<a class="nav-link" data-nav="{key}" href="{href}"{current}>{label}</a>')
    return "\n        ".join(links)


def render_shell(page: Page) -> str:
    """The page skeleton; every value written here is a constant of this module."""
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="dark light">
  <title>{page.title} · Intent Observe</title>
  <link rel="icon" href="{_asset("img/favicon.svg")}" type="image/svg+xml">
  <link rel="stylesheet" href="{_asset("css/app.css")}">
  <script src="{_asset("js/theme-init.js")}"></script>
  <script type="module" src="{_asset("js/pages/" + page.script)}"></script>
</head>
<body data-page="{page.key}">
  <header class="topbar">
    <a class="brand" href="/" aria-label="Intent Observe home">
      <img class="brand-mark" src="{_asset("img/favicon.svg")}" alt="" width="22" height="22">
      <span class="brand-name">Intent <b>Observe</b></span>
    </a>
    <nav class="nav" aria-label="Main">
        {_navigation(page.key)}
    </nav>
    <div class="topbar-end">
      <span class="live-pill" id="live-pill" data-state="idle" title="Live stream">
        <span class="live-dot"></span><span class="live-label">idle</span>
      </span>
      <button class="icon-button" id="theme-toggle" type="button" title="Switch theme"
        aria-label="Switch theme"></button>
    </div>
  </header>
  <main id="app" class="page page-{page.key}" aria-live="polite">
    <div class="loading" role="status">Loading…</div>
  </main>
  <noscript><p class="noscript">Intent Observe needs JavaScript enabled.</p></noscript>
</body>
</html>
"""


# Path → page. `/traces/{trace_id}`: the id (a trace id or an intent id such as INT-015) is
# read by the browser code from the address, never echoed into the HTML.
PAGE_ROUTES: dict[str, Page] = {
    "/": DASHBOARD,
    "/traces": TRACES,
    "/traces/{trace_id}": TRACE,
    "/events": EVENTS,
    "/alerts": ALERTS,
    "/claude": CLAUDE,
    "/docs": DOCS,
}


def _page_endpoint(page: Page) -> Callable[[], HTMLResponse]:
    def endpoint() -> HTMLResponse:
        return HTMLResponse(render_shell(page), headers=PAGE_HEADERS)

    return endpoint


for _path, _page in PAGE_ROUTES.items():
    router.add_api_route(_path, _page_endpoint(_page), methods=["GET"], response_class=HTMLResponse)


def resolve_asset(asset_path: str) -> Path:
    """The file under STATIC_DIR that `asset_path` names, or 404: never a file outside it."""
    parts = asset_path.split("/")
    if "\x00" in asset_path or any(
        part in ("", ".", "..") or part.startswith(".") or "\\" in part for part in parts
    ):
        raise HTTPException(status_code=404)
    candidate = STATIC_DIR.joinpath(*parts).resolve()
    if not candidate.is_relative_to(STATIC_DIR) or not candidate.is_file():
        raise HTTPException(status_code=404)
    if candidate.suffix not in ASSET_TYPES:
        raise HTTPException(status_code=404)
    return candidate


@router.api_route("/static/{asset_path:path}", methods=["GET", "HEAD"])
def static_asset(asset_path: str) -> FileResponse:
    path = resolve_asset(asset_path)
    return FileResponse(
        path,
        media_type=ASSET_TYPES[path.suffix],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
