"""Loki's partial refusal of a log batch, read as what it is.

Loki (and Grafana Cloud's OTLP gateway in front of it) checks each log entry on its own: it stores
the entries it accepts and answers the whole request `400` when some were refused, naming the reason
of one of them (or of each). Two refusals are about an entry's time, each with a cutoff (one line):

    entry for stream '{…}' has timestamp too old: 2026-07-08T13:05:10Z,
    oldest acceptable timestamp is: 2026-07-15T13:05:10Z

for entries older than `reject_old_samples_max_age`, and, for entries further behind their stream's
newest entry than its out-of-order window (`max_chunk_age` / 2, Loki's "accept out-of-order writes"),

    entry with timestamp 2026-07-08 13:05:10 +0000 UTC ignored, reason: 'entry too far behind,
    entry timestamp is: 2026-07-08T13:05:10Z, oldest acceptable timestamp is: 2026-07-15T13:05:10Z',

So the refused records are exactly those of the request older than the named cutoff (the latest
one, where several streams name theirs: a record between two is counted refused, never lost
unseen): a partial success, never a reason to stop or to resend. Both cutoffs only move forward (the
clock; the stream's newest entry), so a retry would be refused again, and stamping the record with
another time would date the event when it did not happen: each refused record is dead-lettered with
the reason. Any other 400 stays a refusal of the whole batch.
"""

from __future__ import annotations

import re
from datetime import datetime

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from intent_observe.otlp.consumer import RefusedRecord

_CUTOFF = re.compile(
    r"(has timestamp too old|entry too far behind)\b.{0,80}?"
    r"oldest acceptable timestamp is: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))"
)
_REASONS = {
    "has timestamp too old": "too old",
    "entry too far behind": "too far behind its stream's newest entry",
}
_FRACTION = re.compile(r"\.(\d+)")


def too_old_records(payload: bytes, error_text: str) -> tuple[RefusedRecord, ...]:
    """The records of `payload` (an ExportLogsServiceRequest) that a Loki "timestamp too old" or "entry
    too far behind" answer refused; empty when the answer is of another kind or names none of them."""
    named = [
        (cutoff_ns, kind, text)
        for kind, text in _CUTOFF.findall(error_text)
        if (cutoff_ns := _cutoff_ns(text)) is not None
    ]
    if not named:
        return ()
    cutoff_ns, kind, text = max(named)
    reason = f"refused by the backend as {_REASONS[kind]} (the oldest it accepts: {text})"
    request = ExportLogsServiceRequest.FromString(payload)
    return tuple(
        _refused(record, reason)
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
        if (record.time_unix_nano or record.observed_time_unix_nano) < cutoff_ns
    )


def _refused(record: LogRecord, reason: str) -> RefusedRecord:
    attributes = {kv.key: kv.value for kv in record.attributes}

    def value(key: str) -> AnyValue:
        return attributes.get(key, AnyValue())

    return RefusedRecord(
        file=value("intent.event.file").string_value,
        line=int(value("intent.event.line").int_value),
        offset=int(value("intent.event.offset").int_value),
        reason=reason,
    )


def _cutoff_ns(text: str) -> int | None:
    """Loki writes the cutoff to the second (Go's RFC 3339) but compares at full precision: a record
    within that second may have been refused, and is counted as refused rather than lost unseen."""
    start = _rfc3339_ns(text)
    if start is None or _FRACTION.search(text):
        return start
    return start + 1_000_000_000


def _rfc3339_ns(text: str) -> int | None:
    """RFC 3339 with up to nanoseconds (Go's time.RFC3339Nano), as Unix nanoseconds."""
    fraction = _FRACTION.search(text)
    digits = fraction.group(1) if fraction else ""
    try:
        whole = datetime.fromisoformat(_FRACTION.sub("", text, count=1).replace("Z", "+00:00"))
    except ValueError:
        return None
    if whole.tzinfo is None:
        return None
    return int(whole.timestamp()) * 1_000_000_000 + int((digits + "000000000")[:9])
