//! `Encoder`: `SpanRecord`, `LogRecord` and metric `Point` objects → OTLP request bytes.

use std::borrow::Cow;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString};

use super::text::{display, hex_id, utf8};
use crate::encode::{
    AnyValue, Envelope, Histogram, KeyValue, Link, Log, MetricPoint, Metrics, PointValue, Span, Text,
    put_log, put_span,
};

const SCOPE_NAME: &str = "intent-observe";

/// The requests of one resource: `Encoder(resource_attributes, scope_version)`.
#[pyclass(frozen, module = "intent_observe._core")]
pub struct Encoder {
    pub(crate) envelope: Envelope,
}

/// A dict's items, held so the key values built from them can borrow their text.
type Items<'py> = Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)>;

#[pymethods]
impl Encoder {
    #[new]
    fn new(resource: &Bound<'_, PyAny>, scope_version: &str) -> PyResult<Self> {
        let items = items(resource)?;
        let attributes = key_values(&items)?;
        Ok(Encoder {
            envelope: Envelope::new(&attributes, SCOPE_NAME, scope_version),
        })
    }

    /// `ExportTraceServiceRequest` bytes for a sequence of `SpanRecord`.
    fn traces<'py>(&self, spans: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let mut items = Vec::new();
        for span in spans.try_iter()? {
            encode_span(&mut items, &span?)?;
        }
        self.request(spans.py(), &items)
    }

    /// `ExportLogsServiceRequest` bytes for a sequence of `LogRecord`.
    fn logs<'py>(&self, logs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let mut items = Vec::new();
        for log in logs.try_iter()? {
            encode_log(&mut items, &log?)?;
        }
        self.request(logs.py(), &items)
    }

    /// `ExportMetricsServiceRequest` bytes for metric `Point`s: cumulative sums from
    /// `start_ns`, gauges and explicit-bucket histograms, one Metric per name. Each point is
    /// encoded as it is taken from `points` (an iterator keeps no more than one alive).
    /// Requests of several resources concatenate (`b"".join(...)`) into one request.
    fn metrics<'py>(
        &self,
        points: &Bound<'py, PyAny>,
        start_ns: u64,
        time_ns: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut metrics = Metrics::new(start_ns, time_ns);
        for point in points.try_iter()? {
            metrics.add(&HeldPoint::read(&point?)?.point()?);
        }
        Ok(PyBytes::new(
            points.py(),
            &self.envelope.metrics_request(&metrics),
        ))
    }
}

impl Encoder {
    /// One request holding `items` (encoded spans or log records), written straight into
    /// the bytes object: the items are copied once.
    pub(crate) fn request<'py>(&self, py: Python<'py>, items: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let head = self.envelope.head(items.len());
        PyBytes::new_with(py, head.len() + items.len(), |buf| {
            let (front, back) = buf.split_at_mut(head.len());
            front.copy_from_slice(&head);
            back.copy_from_slice(items);
            Ok(())
        })
    }
}

fn encode_span(out: &mut Vec<u8>, span: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = span.py();
    let name = span.getattr(intern!(py, "name"))?.cast_into::<PyString>()?;
    let attributes = items(&span.getattr(intern!(py, "attributes"))?)?;
    let parent = span.getattr(intern!(py, "parent_span_id"))?;
    let status_message = span.getattr(intern!(py, "status_message"))?;
    let links_py = span
        .getattr(intern!(py, "links"))?
        .try_iter()?
        .map(|link| {
            let link = link?;
            let attributes = items(&link.getattr(intern!(py, "attributes"))?)?;
            Ok((link, attributes))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let mut links = Vec::with_capacity(links_py.len());
    for (link, attributes) in &links_py {
        links.push(Link {
            trace_id: hex_id(&link.getattr(intern!(py, "trace_id"))?, "link trace_id")?,
            span_id: hex_id(&link.getattr(intern!(py, "span_id"))?, "link span_id")?,
            attributes: key_values(attributes)?,
        });
    }
    let error = if span.getattr(intern!(py, "error"))?.is_truthy()? {
        Some(optional_text(&status_message)?)
    } else {
        None
    };
    let record = Span {
        trace_id: hex_id(&span.getattr(intern!(py, "trace_id"))?, "trace_id")?,
        span_id: hex_id(&span.getattr(intern!(py, "span_id"))?, "span_id")?,
        parent_span_id: if parent.is_truthy()? {
            Some(hex_id(&parent, "parent_span_id")?)
        } else {
            None
        },
        name: utf8(&name)?,
        start_ns: span.getattr(intern!(py, "start_ns"))?.extract()?,
        end_ns: span.getattr(intern!(py, "end_ns"))?.extract()?,
        attributes: key_values(&attributes)?,
        links,
        error,
    };
    put_span(out, &record);
    Ok(())
}

fn encode_log(out: &mut Vec<u8>, log: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = log.py();
    let body = log.getattr(intern!(py, "body"))?.cast_into::<PyString>()?;
    let severity_text = log.getattr(intern!(py, "severity_text"))?;
    let attributes = items(&log.getattr(intern!(py, "attributes"))?)?;
    let event_name = match attributes
        .iter()
        .find(|(key, _)| key.to_str().is_ok_and(|k| k == "event.name"))
    {
        Some((_, value)) if value.is_truthy()? => display(value)?,
        _ => Cow::Borrowed(&b""[..]),
    };
    let record = Log {
        time_ns: log.getattr(intern!(py, "time_ns"))?.extract()?,
        observed_ns: log.getattr(intern!(py, "observed_ns"))?.extract()?,
        trace_id: hex_id(&log.getattr(intern!(py, "trace_id"))?, "trace_id")?,
        span_id: hex_id(&log.getattr(intern!(py, "span_id"))?, "span_id")?,
        severity_number: log.getattr(intern!(py, "severity_number"))?.extract()?,
        severity_text: optional_text(&severity_text)?,
        body: utf8(&body)?,
        attributes: key_values(&attributes)?,
        event_name,
    };
    put_log(out, &record);
    Ok(())
}

/// None or "" → empty (the field is left out), else the str.
fn optional_text<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<Text<'a>> {
    if value.is_none() {
        return Ok(Cow::Borrowed(&b""[..]));
    }
    utf8(value.cast::<PyString>()?)
}

/// A mapping's items in its order (a dict directly, any other mapping through `.items()`).
fn items<'py>(mapping: &Bound<'py, PyAny>) -> PyResult<Items<'py>> {
    let pairs: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> = match mapping.cast::<PyDict>() {
        Ok(dict) => dict.iter().collect(),
        Err(_) => mapping
            .call_method0(intern!(mapping.py(), "items"))?
            .try_iter()?
            .map(|item| item?.extract())
            .collect::<PyResult<_>>()?,
    };
    pairs
        .into_iter()
        .map(|(key, value)| Ok((key.cast_into::<PyString>()?, value)))
        .collect()
}

fn key_values<'a>(items: &'a Items<'_>) -> PyResult<Vec<KeyValue<'a>>> {
    items
        .iter()
        .map(|(key, value)| {
            Ok(KeyValue {
                key: utf8(key)?,
                value: any_value(key, value)?,
            })
        })
        .collect()
}

/// str, bool, int and float by their exact type; anything else as its `str()`.
fn any_value<'a>(key: &Bound<'_, PyString>, value: &'a Bound<'_, PyAny>) -> PyResult<AnyValue<'a>> {
    if let Ok(text) = value.cast_exact::<PyString>() {
        return Ok(AnyValue::Str(utf8(text)?));
    }
    if value.is_exact_instance_of::<PyBool>() {
        return Ok(AnyValue::Bool(value.is_truthy()?));
    }
    if value.is_exact_instance_of::<PyInt>() {
        return int64(value).map(AnyValue::Int).ok_or_else(|| {
            PyValueError::new_err(format!("attribute {key} = {value} does not fit in 64 bits"))
        });
    }
    if value.is_exact_instance_of::<PyFloat>() {
        return Ok(AnyValue::Double(value.extract()?));
    }
    Ok(AnyValue::Str(display(value)?))
}

/// An int as OTLP's int64; 2^63 … 2^64-1 keep their unsigned bits, as they always were sent.
fn int64(value: &Bound<'_, PyAny>) -> Option<i64> {
    value
        .extract::<i64>()
        .ok()
        .or_else(|| value.extract::<u64>().ok().map(|n| n as i64))
}

/// A metric `Point`'s Python objects, held while its `MetricPoint` borrows their text.
struct HeldPoint<'py> {
    name: Bound<'py, PyString>,
    description: Bound<'py, PyString>,
    unit: Bound<'py, PyString>,
    labels: Items<'py>,
    value: HeldValue,
}

enum HeldValue {
    Counter(i64),
    Gauge(f64),
    Histogram {
        count: u64,
        sum: f64,
        bucket_counts: Vec<u64>,
        explicit_bounds: Vec<f64>,
    },
}

impl<'py> HeldPoint<'py> {
    fn read(point: &Bound<'py, PyAny>) -> PyResult<Self> {
        let py = point.py();
        let metric = point.getattr(intern!(py, "metric"))?;
        let kind = metric.getattr(intern!(py, "kind"))?.str()?;
        let histogram = point.getattr(intern!(py, "histogram"))?;
        let value = point.getattr(intern!(py, "value"))?;
        let value = match kind.to_str()? {
            "histogram" if !histogram.is_none() => HeldValue::Histogram {
                count: histogram.getattr(intern!(py, "count"))?.extract()?,
                sum: histogram.getattr(intern!(py, "total"))?.extract()?,
                bucket_counts: histogram.getattr(intern!(py, "counts"))?.extract()?,
                explicit_bounds: histogram.getattr(intern!(py, "bounds"))?.extract()?,
            },
            "counter" => HeldValue::Counter(py.get_type::<PyInt>().call1((value,))?.extract()?),
            _ => HeldValue::Gauge(value.extract()?),
        };
        let labels: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> =
            point.getattr(intern!(py, "labels"))?.extract()?;
        Ok(HeldPoint {
            name: metric.getattr(intern!(py, "name"))?.cast_into()?,
            description: metric.getattr(intern!(py, "description"))?.cast_into()?,
            unit: metric.getattr(intern!(py, "unit"))?.cast_into()?,
            labels: labels
                .into_iter()
                .map(|(k, v)| Ok((k.cast_into::<PyString>()?, v)))
                .collect::<PyResult<_>>()?,
            value,
        })
    }

    fn point(&self) -> PyResult<MetricPoint<'_>> {
        Ok(MetricPoint {
            name: utf8(&self.name)?,
            description: utf8(&self.description)?,
            unit: utf8(&self.unit)?,
            labels: key_values(&self.labels)?,
            value: match &self.value {
                HeldValue::Counter(n) => PointValue::Counter(*n),
                HeldValue::Gauge(x) => PointValue::Gauge(*x),
                HeldValue::Histogram {
                    count,
                    sum,
                    bucket_counts,
                    explicit_bounds,
                } => PointValue::Histogram(Histogram {
                    count: *count,
                    sum: *sum,
                    bucket_counts,
                    explicit_bounds,
                }),
            },
        })
    }
}
