"""What one decoded batch does to the store's tables, inside the writer's transaction.

Spans (the first copy of a span id kept; a phase span closes its artifact), trace rows (a
trace new in the batch from the batch, others recomputed from their stored spans), log
records, metric points (cumulative, delta and histogram values kept as the backend
would), and Claude Code sessions. A row that cannot be stored is refused alone: the
batch is retried row by row and its neighbours are kept.
"""

from __future__ import annotations

import logging
import operator
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from intent_observe.store.decode import Batch, MetricPoint, SessionTouch
from intent_observe.store.rows import LogRow, SpanRow, columns_and_values
from intent_observe.store.values import dump_histogram, from_column, load_histogram, to_column

log = logging.getLogger(__name__)

# Spans are final once sent (an ended OpenTelemetry span is immutable): the first copy of a span id is
# kept, as Tempo keeps it, and a redelivered copy changes nothing.
_SPAN_INSERT = f"INSERT INTO spans {columns_and_values(SpanRow)} ON CONFLICT (trace_id, span_id) DO NOTHING"
# A contract runs again when a `contract.started` record of it is later than its newest run's end: the
# run in progress sends its span only when it ends, so until then the contract is open.
RUN_STARTED = "contract.started"
_NEWEST_PHASE_END = """(SELECT max(p.end_ns) FROM spans p
    WHERE p.trace_id = ?1 AND p.parent_span_id = {span} AND p.phase IS NOT NULL)"""
_NOT_RUNNING_AGAIN = f"""NOT EXISTS (SELECT 1 FROM logs l WHERE l.trace_id = ?1 AND l.span_id = spans.span_id
    AND l.event_name = '{RUN_STARTED}' AND l.time_ns > {_NEWEST_PHASE_END.format(span="spans.span_id")})"""
# A phase span (a run, a lifecycle) closes the Intent artifact it belongs to, its parent: read from the
# stored copy, which may be an earlier one than the batch's.
_CLOSE_PARENT = f"""
UPDATE spans SET closed = 1 WHERE trace_id = ?1 AND closed = 0 AND artifact_type IS NOT NULL AND span_id = (
    SELECT parent_span_id FROM spans WHERE trace_id = ?1 AND span_id = ?2 AND phase IS NOT NULL)
    AND {_NOT_RUNNING_AGAIN}
"""
# An artifact stored after one of its phase spans is closed too (spans_phase_parent finds the phase);
# as above, what the stored copy says counts, not the batch's copy.
_CLOSE_IF_PHASED = f"""
UPDATE spans SET closed = 1 WHERE trace_id = ?1 AND span_id = ?2 AND closed = 0 AND artifact_type IS NOT NULL
    AND EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = ?1 AND p.parent_span_id = ?2 AND p.phase IS NOT NULL)
    AND {_NOT_RUNNING_AGAIN}
"""
# A run started after the newest one ended opens its closed contract again.
_REOPEN = f"""
UPDATE spans SET closed = 0 WHERE trace_id = ?1 AND span_id = ?2 AND closed = 1 AND phase IS NULL
    AND artifact_type = 'contract' AND ?3 > {_NEWEST_PHASE_END.format(span="?2")}
"""
# No trigger fires on it (EXPLAIN shows no trigger program): a trigger makes each row's INSERT a
# statement with a sub-journal of its own, and inside the batch's savepoint SQLite truncates its
# in-memory sub-journal at every statement's end by walking it from the start, through every page
# the batch touched: a 2,000-record batch took 0.05 s of CPU at first, 0.6-1.3 s by 22,000 stored.
_LOG_INSERT = f"INSERT OR IGNORE INTO logs {columns_and_values(LogRow)}"
# What the intent events stored after row ?1 add, one statement each for the whole batch: the text
# search's index (the event_text_index migration), the events per hour, and each span's newest title
# (that of its newest record carrying one; a tie in time: the record stored last; newer than the
# stored one's or as new), as the newest_titles migration derived it for the records before it.
_OF_NEW_EVENTS = (
    """INSERT INTO logs_text (rowid, body, artifact_id)
    SELECT id, body, artifact_id FROM logs WHERE id > ?1 AND category = 'intent'""",
    """INSERT INTO event_hours (hour, count)
    SELECT time_ns / 3600000000000 AS hour, count(*) FROM logs WHERE id > ?1 AND category = 'intent'
    GROUP BY hour ON CONFLICT (hour) DO UPDATE SET count = count + excluded.count""",
    """INSERT INTO span_titles
    SELECT trace_id, span_id, time_ns, title FROM (
        SELECT trace_id, span_id, time_ns, json_extract(attributes, '$."intent.title"') AS title,
               row_number() OVER (PARTITION BY trace_id, span_id ORDER BY time_ns DESC, id DESC) AS newest
        FROM logs WHERE id > ?1 AND category = 'intent' AND trace_id IS NOT NULL AND span_id IS NOT NULL
            AND json_extract(attributes, '$."intent.title"') IS NOT NULL
    ) WHERE newest = 1
    ON CONFLICT (trace_id, span_id) DO UPDATE SET time_ns = excluded.time_ns, title = excluded.title
    WHERE excluded.time_ns >= span_titles.time_ns""",
)

# What a trace's row is made of: batch rows and stored rows alike (stored, the other columns
# are read as NULL).
_TRACE_COLUMNS = frozenset(
    {"trace_id", "span_id", "parent_span_id", "name", "service", "start_ns", "end_ns", "status_code",
     "closed", "artifact_type", "artifact_id", "intent_id", "title", "phase"}
)  # fmt: skip
_TRACE_SPANS = f"""
SELECT {", ".join(name if name in _TRACE_COLUMNS else "NULL" for name in SpanRow._fields)}
FROM spans WHERE trace_id IN (SELECT value FROM json_each(?)) ORDER BY trace_id, span_id
"""
_trace_and_span = operator.attrgetter("trace_id", "span_id")
# The root's state as derived on its stored copy (a phase closes it, a run started again opens it),
# for rows made from a batch's copies: one primary-key lookup a trace.
_ROOT_STATE_AS_STORED = """
UPDATE traces SET root_state = (SELECT CASE WHEN s.closed THEN 'closed' ELSE 'open' END FROM spans s
    WHERE s.trace_id = traces.trace_id AND s.span_id = traces.root_span_id)
WHERE trace_id IN (SELECT value FROM json_each(?)) AND root_state IS NOT NULL
"""


# Errors raised by what a row holds, not by the database (a full disk, a lock): the row is
# refused for good and its neighbours are stored.
_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError, OverflowError, ValueError, TypeError)


@dataclass(frozen=True)
class Refused:
    """Rows of a batch the store could not hold, and why (none: everything was stored)."""

    count: int = 0
    reasons: tuple[str, ...] = ()


def apply_batch_isolating(conn: sqlite3.Connection, batch: Batch) -> Refused:
    """`apply_batch`; when a row's content makes it fail, again row by row, each row in a
    savepoint of its own, so that only the bad rows are refused."""
    conn.execute("SAVEPOINT batch")
    try:
        apply_batch(conn, batch)
    except _ROW_ERRORS as error:
        conn.execute("ROLLBACK TO batch")
        conn.execute("RELEASE batch")
        log.warning("a batch failed on one of its rows (%s); storing it row by row", error)
        return _apply_row_by_row(conn, batch)
    conn.execute("RELEASE batch")
    return Refused()


def _apply_row_by_row(conn: sqlite3.Connection, batch: Batch) -> Refused:
    count, reasons = 0, []
    for kind, single in _single_row_batches(batch):
        conn.execute("SAVEPOINT row")
        try:
            apply_batch(conn, single)
        except _ROW_ERRORS as error:
            conn.execute("ROLLBACK TO row")
            count += 1
            reason = f"a {kind} the store cannot hold: {error}"
            if reason not in reasons:
                reasons.append(reason)
        conn.execute("RELEASE row")
    return Refused(count, tuple(reasons))


def _single_row_batches(batch: Batch) -> Iterator[tuple[str, Batch]]:
    resources = batch.resources
    for span in batch.spans:
        yield "span", Batch(resources=resources, spans=[span], promotions=batch.promotions)
    for log_row in batch.logs:
        yield "log record", Batch(resources=resources, logs=[log_row])
    for point in batch.points:
        yield "data point", Batch(resources=resources, points=[point])
    for touch in batch.sessions:
        yield "session", Batch(sessions=[touch])


def apply_batch(conn: sqlite3.Connection, batch: Batch) -> None:
    if batch.resources:
        conn.executemany("INSERT OR IGNORE INTO resources VALUES (?,?,?)", set(batch.resources))
    if batch.spans:
        _write_spans(conn, batch)
    if batch.logs:
        _write_logs(conn, batch.logs)
    if batch.points:
        write_points(conn, batch.points)
    for touch in batch.sessions:
        touch_session(conn, touch)


def _write_logs(conn: sqlite3.Connection, logs: list[LogRow]) -> None:
    """Insert the records (a redelivered one is ignored), derive what the new intent events add
    (text index, events per hour, newest titles), and open again the contracts a new run of them
    started."""
    (newest,) = conn.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()
    conn.executemany(_LOG_INSERT, map(tuple, logs))  # see _write_spans
    # the new rows' ids follow the newest (a rowid is max + 1). A statement for the batch, not a
    # trigger (see _LOG_INSERT); for the text index also because FTS5 writes its pending terms out
    # at each statement's savepoint: a trigger made an index segment per row (4x the CPU)
    for derive in _OF_NEW_EVENTS:
        conn.execute(derive, (newest,))
    _reopen_running_contracts(conn, logs)


def _write_spans(conn: sqlite3.Connection, batch: Batch) -> None:
    """Insert the spans (first copy kept), derive the state of the artifacts their phases close,
    then bring their traces' rows up to date.

    A trace with no span stored before this batch (most of them, under load) gets its row
    from the batch's rows, without reading back what was just written; any other trace is
    recomputed from all its stored spans."""
    trace_ids = {row.trace_id for row in batch.spans}
    stored = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT trace_id FROM spans WHERE trace_id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(sorted(trace_ids)).decode(),),
        )
    }
    # as exact tuples: sqlite3 binds a tuple subclass's values through the sequence protocol,
    # 2 µs a row more (measured), where tuple() copies it in 0.1
    conn.executemany(_SPAN_INSERT, map(tuple, batch.spans))
    _close_phased_artifacts(conn, batch.spans, stored)
    promoted = _note_promotions(conn, batch.promotions)
    fresh: dict[str, list[SpanRow]] = {}
    repeated: set[str] = set()
    for row in sorted(batch.spans, key=_trace_and_span):
        trace_id = row.trace_id
        if trace_id in stored or trace_id in promoted:
            continue
        spans = fresh.setdefault(trace_id, [])
        if spans and spans[-1].span_id == row.span_id:
            repeated.add(trace_id)  # a span sent twice: its first copy is the one stored
        spans.append(row)
    for trace_id in repeated:
        del fresh[trace_id]  # recomputed from what is stored, below
    if fresh:
        _write_trace_rows(conn, fresh, as_stored=False)
    refresh_traces(conn, (trace_ids - fresh.keys()) | promoted)


def _close_phased_artifacts(conn: sqlite3.Connection, rows: list[SpanRow], stored: set[str]) -> None:
    """Mark closed the artifacts a phase span of this batch belongs to, and the open artifacts of
    this batch whose phase was stored before them (only possible in a trace stored before)."""
    closing = [
        (row.trace_id, row.span_id)
        for row in rows
        if row.phase is not None and row.parent_span_id is not None
    ]
    if closing:
        conn.executemany(_CLOSE_PARENT, closing)
    if stored:
        late = [
            (row.trace_id, row.span_id)
            for row in rows
            if not row.closed and row.artifact_type is not None and row.trace_id in stored
        ]
        if late:
            conn.executemany(_CLOSE_IF_PHASED, late)


def _reopen_running_contracts(conn: sqlite3.Connection, logs: list[LogRow]) -> None:
    """A contract whose run starts again after its newest run ended is open until the new run's span
    arrives; its trace's row says so where the contract is the root."""
    reopened = {
        row.trace_id
        for row in logs
        if row.event_name == RUN_STARTED
        and row.trace_id is not None
        and conn.execute(_REOPEN, (row.trace_id, row.span_id, row.time_ns)).rowcount
    }
    refresh_traces(conn, reopened)


def refresh_traces(conn: sqlite3.Connection, trace_ids: set[str]) -> None:
    """Recompute the `traces` rows of the given traces from their stored spans (none: no row)."""
    if not trace_ids:
        return
    spans: dict[str, list[SpanRow]] = {trace_id: [] for trace_id in trace_ids}
    for span in map(SpanRow._make, conn.execute(_TRACE_SPANS, (orjson.dumps(sorted(trace_ids)).decode(),))):
        spans[span.trace_id].append(span)
    _write_trace_rows(conn, {trace_id: found for trace_id, found in spans.items() if found}, as_stored=True)
    gone = [(trace_id,) for trace_id, found in spans.items() if not found]
    if gone:
        conn.executemany("DELETE FROM traces WHERE trace_id = ?", gone)
        conn.executemany("DELETE FROM span_titles WHERE trace_id = ?", gone)


def _write_trace_rows(conn: sqlite3.Connection, spans: dict[str, list[SpanRow]], *, as_stored: bool) -> None:
    """`as_stored`: the spans were read back, their `closed` derived; else they are the batch's copies,
    which say what was sent, and the root's state is read from its stored copy."""
    promoted = {
        row[0]
        for row in conn.execute(
            "SELECT trace_id FROM promoted_orphans WHERE trace_id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(sorted(spans)).decode(),),
        )
    }
    rows = [_trace_row(trace_id, found, trace_id in promoted) for trace_id, found in spans.items()]
    conn.executemany("INSERT OR REPLACE INTO traces VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    if not as_stored:
        conn.execute(_ROOT_STATE_AS_STORED, (orjson.dumps(sorted(spans)).decode(),))


def _trace_row(trace_id: str, spans: list[SpanRow], promoted: bool) -> tuple[Any, ...]:
    """A trace's row from its spans (in span id order): counts, time span (phases included),
    services, root, intent, and whether the root artifact is open or closed."""
    present = {span.span_id for span in spans}
    root: SpanRow | None = None
    root_key: tuple[bool, bool, int] | None = None
    errors = 0
    start, end = spans[0].start_ns, spans[0].end_ns
    services: dict[str, None] = {}  # in order of first appearance
    intent_span: str | None = None  # the artifact id of an intent span
    intent_attr: str | None = None  # else the intent.id attribute
    for span in spans:
        parent, span_start, art_type, intent = (
            span.parent_span_id,
            span.start_ns,
            span.artifact_type,
            span.intent_id,
        )
        if span.status_code == 2:
            errors += 1
        if span_start < start:
            start = span_start
        if span.end_ns > end:
            end = span.end_ns
        services[span.service] = None
        art_id = span.artifact_id
        if art_type == "intent" and art_id is not None and (intent_span is None or art_id > intent_span):
            intent_span = art_id
        if intent is not None and (intent_attr is None or intent > intent_attr):
            intent_attr = intent
        if parent is None or parent not in present:
            # a root: an intent span wins over a backfilled orphan, an artifact over a phase whose
            # artifact is not stored yet; otherwise the earliest root
            key = (art_type != "intent", span.phase is not None, span_start)
            if root_key is None or key < root_key:
                root, root_key = span, key
    root_id, root_name, root_title, root_type, root_state = (None, "", None, None, None)
    if root is not None:
        root_id, root_name, root_title, root_type = root.span_id, root.name, root.title, root.artifact_type
        if root_type is not None:
            root_state = "closed" if root.closed else "open"
    return (
        trace_id,
        root_id,
        root_name,
        intent_span or intent_attr,
        root_title,
        _trace_kind(intent_span, root_type, promoted),
        len(spans),
        errors,
        start,
        end,
        orjson.dumps(list(services)).decode(),
        root_state,
    )


def _trace_kind(intent_span: str | None, root_type: str | None, promoted: bool) -> str:
    if intent_span:
        return "intent"
    if root_type == "signal":
        return "promoted" if promoted else "orphan"
    return "cluster" if root_type == "cluster" else "other"


def _note_promotions(conn: sqlite3.Connection, promotions: list[tuple[str, str | None]]) -> set[str]:
    """Record orphan traces whose signal was backfilled into an intent; returns those trace ids."""
    conn.executemany("INSERT OR IGNORE INTO promoted_orphans VALUES (?, ?)", promotions)
    return {trace_id for trace_id, _ in promotions}


def write_points(conn: sqlite3.Connection, points: list[MetricPoint]) -> None:
    exported: dict[tuple[str, str], int] = {}
    for p in points:
        _write_point(conn, p)
        key = (p.name, p.service)
        exported[key] = max(exported.get(key, 0), p.time_ns)
    conn.executemany(
        "INSERT INTO metric_exports VALUES (?,?,?) ON CONFLICT (name, service) DO UPDATE "
        "SET time_ns = max(time_ns, excluded.time_ns)",
        [(name, service, t) for (name, service), t in exported.items()],
    )


def _write_point(conn: sqlite3.Connection, p: MetricPoint) -> None:
    row = conn.execute(
        "SELECT time_ns, value, histogram FROM metric_series WHERE id = ?", (p.series_id,)
    ).fetchone()
    value, histogram = p.value, p.histogram
    if row is not None:
        old_time, stored_value, stored_hist = row
        old_value, old_hist = from_column(stored_value), load_histogram(stored_hist)
        if p.temporality == "delta":
            # deltas add up to a running total: what /metrics and the Claude view show
            value = old_value + p.value
            histogram = _add_histograms(old_hist, p.histogram)
        elif p.time_ns < old_time:
            return  # an older cumulative point arriving late changes nothing
        if value == old_value and histogram == old_hist:
            conn.execute(
                "UPDATE metric_series SET time_ns = max(time_ns, ?) WHERE id = ?", (p.time_ns, p.series_id)
            )
            return
    hist_json = dump_histogram(histogram) if histogram is not None else None
    stored = to_column(value)
    conn.execute(
        """INSERT INTO metric_series (id, name, service, labels, kind, unit, temporality, session_id,
               start_ns, time_ns, value, histogram) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
           ON CONFLICT (id) DO UPDATE SET time_ns = max(time_ns, excluded.time_ns),
               value = excluded.value, histogram = excluded.histogram, start_ns = excluded.start_ns""",
        (
            p.series_id, p.name, p.service, p.labels, p.kind, p.unit, p.temporality, p.session_id,
            p.start_ns, p.time_ns, stored, hist_json,
        ),
    )  # fmt: skip
    conn.execute("INSERT OR REPLACE INTO metric_points VALUES (?,?,?)", (p.series_id, p.time_ns, stored))


def _add_histograms(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    if old is None or new is None or old["bounds"] != new["bounds"]:
        return new
    return {
        "bounds": new["bounds"],
        "counts": [a + b for a, b in zip(old["counts"], new["counts"], strict=True)],
        "sum": old["sum"] + new["sum"],
        "count": old["count"] + new["count"],
    }


def touch_session(conn: sqlite3.Connection, t: SessionTouch) -> None:
    conn.execute(
        """INSERT INTO claude_sessions VALUES (?,?,?,?,?,?,?,?)
           ON CONFLICT (session_id) DO UPDATE SET
             start_ns = min(start_ns, excluded.start_ns), end_ns = max(end_ns, excluded.end_ns),
             contract_id = coalesce(contract_id, excluded.contract_id),
             spec_id = coalesce(spec_id, excluded.spec_id),
             intent_id = coalesce(intent_id, excluded.intent_id),
             trace_id = coalesce(trace_id, excluded.trace_id),
             parent_span_id = coalesce(parent_span_id, excluded.parent_span_id)""",
        (
            t.session_id, t.time_ns, t.time_ns, t.contract_id, t.spec_id, t.intent_id, t.trace_id,
            t.parent_span_id,
        ),
    )  # fmt: skip
