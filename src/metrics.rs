//! Process metrics for `GET /metrics`: counters kept where things happen (atomics, and small
//! maps for labelled families whose label values are few and bounded), gauges read at scrape
//! time, and components that render their own families ([`MetricSource`]). Rendered in the
//! Prometheus text exposition format 0.0.4.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use vigil_sip::{Message, Method};

/// The metrics of one running platform; shared as `Arc<Metrics>`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub http: HttpMetrics,
    /// RTP packets received and lost over live sessions, ended ones included.
    pub live_rtp: SessionTotals<2>,
    sources: RwLock<Vec<Arc<dyn MetricSource>>>,
}

/// A component that renders its own metric families at scrape time (SIP endpoint, webhooks,
/// live sessions). Family names must be unique across sources.
pub trait MetricSource: Send + Sync + fmt::Debug + 'static {
    fn render(&self, out: &mut Exposition);
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::default()
    }

    /// Adds a component whose families are rendered on every scrape.
    pub fn add_source(&self, source: Arc<dyn MetricSource>) {
        self.sources.write().expect("metric sources").push(source);
    }

    /// Renders the HTTP families and every source's.
    pub fn render(&self, out: &mut Exposition) {
        self.http.render(out);
        let sources = self.sources.read().expect("metric sources").clone();
        for s in sources {
            s.render(out);
        }
    }
}

/// A monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters keyed by `N` label values. Label values must come from a small, bounded set
/// (methods, status codes, route patterns), never from raw input.
#[derive(Debug)]
pub struct CounterVec<const N: usize> {
    names: [&'static str; N],
    values: Mutex<BTreeMap<[Label; N], u64>>,
}

/// A label value; static strings cost no allocation.
pub type Label = std::borrow::Cow<'static, str>;

impl<const N: usize> CounterVec<N> {
    pub fn new(names: [&'static str; N]) -> Self {
        CounterVec {
            names,
            values: Mutex::default(),
        }
    }

    pub fn inc(&self, labels: [Label; N]) {
        self.add(labels, 1);
    }

    pub fn add(&self, labels: [Label; N], n: u64) {
        *self
            .values
            .lock()
            .expect("counter")
            .entry(labels)
            .or_default() += n;
    }

    /// The count for these label values (0 when never counted).
    pub fn get(&self, labels: [&str; N]) -> u64 {
        let key = labels.map(|l| Label::Owned(l.to_owned()));
        self.values
            .lock()
            .expect("counter")
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Renders the family (HELP and TYPE even when it has no samples yet).
    pub fn render(&self, out: &mut Exposition, name: &str, help: &str) {
        out.family(name, Kind::Counter, help);
        let values = self.values.lock().expect("counter").clone();
        for (labels, v) in &values {
            let pairs: [(&str, &str); N] = std::array::from_fn(|i| (self.names[i], &*labels[i]));
            out.sample(name, &pairs, *v);
        }
    }
}

/// Monotonic totals of counters that sessions report while they run (e.g. RTP packets):
/// each scrape passes the running sessions' counts; a session that is gone keeps the counts
/// it last reported, so the totals never go down.
#[derive(Debug, Default)]
pub struct SessionTotals<const N: usize> {
    inner: Mutex<TotalsInner<N>>,
}

#[derive(Debug)]
struct TotalsInner<const N: usize> {
    ended: [u64; N],
    last: std::collections::HashMap<String, [u64; N]>,
}

impl<const N: usize> Default for TotalsInner<N> {
    fn default() -> Self {
        TotalsInner {
            ended: [0; N],
            last: Default::default(),
        }
    }
}

impl<const N: usize> SessionTotals<N> {
    /// Takes the running sessions' counts by session id; returns the totals.
    pub fn update(&self, running: impl IntoIterator<Item = (String, [u64; N])>) -> [u64; N] {
        let mut t = self.inner.lock().expect("session totals");
        let now: std::collections::HashMap<String, [u64; N]> = running.into_iter().collect();
        let gone: Vec<[u64; N]> = t
            .last
            .iter()
            .filter(|(id, _)| !now.contains_key(*id))
            .map(|(_, c)| *c)
            .collect();
        for c in gone {
            for (e, v) in t.ended.iter_mut().zip(c) {
                *e += v;
            }
        }
        t.last = now;
        let mut total = t.ended;
        for c in t.last.values() {
            for (s, v) in total.iter_mut().zip(c) {
                *s += v;
            }
        }
        total
    }
}

/// Histograms keyed by one label value (from a small, bounded set), with fixed buckets.
#[derive(Debug)]
pub struct HistogramVec {
    label: &'static str,
    /// Upper bounds of the buckets, ascending; `+Inf` is implied.
    bounds: &'static [f64],
    values: Mutex<BTreeMap<Label, Histogram>>,
}

#[derive(Debug, Clone)]
struct Histogram {
    /// Observations per bucket (not cumulative); the last is above every bound.
    buckets: Vec<u64>,
    sum: f64,
}

impl HistogramVec {
    pub fn new(label: &'static str, bounds: &'static [f64]) -> Self {
        HistogramVec {
            label,
            bounds,
            values: Mutex::default(),
        }
    }

    pub fn observe(&self, label: Label, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        let mut values = self.values.lock().expect("histogram");
        let h = values.entry(label).or_insert_with(|| Histogram {
            buckets: vec![0; self.bounds.len() + 1],
            sum: 0.0,
        });
        h.buckets[i] += 1;
        h.sum += v;
    }

    /// Renders `<name>_bucket` (cumulative, with `le`), `<name>_sum` and `<name>_count`.
    pub fn render(&self, out: &mut Exposition, name: &str, help: &str) {
        out.family(name, Kind::Histogram, help);
        let values = self.values.lock().expect("histogram").clone();
        let (bucket, sum, count) = (
            format!("{name}_bucket"),
            format!("{name}_sum"),
            format!("{name}_count"),
        );
        for (label, h) in &values {
            let mut cumulative = 0;
            for (i, n) in h.buckets.iter().enumerate() {
                cumulative += n;
                let le = match self.bounds.get(i) {
                    Some(b) => Value::Float(*b).to_string(),
                    None => "+Inf".to_owned(),
                };
                out.sample(&bucket, &[(self.label, label), ("le", &le)], cumulative);
            }
            out.sample(&sum, &[(self.label, label)], h.sum);
            out.sample(&count, &[(self.label, label)], cumulative);
        }
    }
}

/// Metric family types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The text being rendered.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `# HELP` and `# TYPE` lines of a family; its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line; label values are escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", value.into());
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Into<Value>) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A sample value: integers print exactly, floats in Prometheus' spelling.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Int(i128),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v.into())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v.into())
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(v as i128)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) if v.is_nan() => f.write_str("NaN"),
            Value::Float(v) if v.is_infinite() => {
                f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" })
            }
            Value::Float(v) => write!(f, "{v}"),
        }
    }
}

/// HTTP requests, counted by the API's middleware.
#[derive(Debug)]
pub struct HttpMetrics {
    /// By method, route pattern (`/api/v1/devices/{device_id}`; `unmatched` for none) and
    /// status.
    pub requests: CounterVec<3>,
    /// Seconds until the response head, by route pattern.
    pub duration: HistogramVec,
    pub request_bytes: Counter,
    pub response_bytes: Counter,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            requests: CounterVec::new(["method", "route", "status"]),
            duration: HistogramVec::new("route", HTTP_SECONDS),
            request_bytes: Counter::default(),
            response_bytes: Counter::default(),
        }
    }
}

impl HttpMetrics {
    fn render(&self, out: &mut Exposition) {
        self.requests.render(
            out,
            "vigil_http_requests_total",
            "HTTP requests by method, route pattern and status.",
        );
        self.duration.render(
            out,
            "vigil_http_request_duration_seconds",
            "Time to the response head by route pattern (live streams: until they start).",
        );
        out.single(
            "vigil_http_request_bytes_total",
            Kind::Counter,
            "HTTP request body bytes read.",
            self.request_bytes.get(),
        );
        out.single(
            "vigil_http_response_bytes_total",
            Kind::Counter,
            "HTTP response body bytes sent (API, dashboard and live media).",
            self.response_bytes.get(),
        );
    }
}

/// Buckets of HTTP request durations, seconds.
const HTTP_SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The label for an HTTP method (unknown ones fold into `OTHER`).
pub fn http_method_label(m: &axum::http::Method) -> Label {
    use axum::http::Method as M;
    Label::Borrowed(match *m {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        _ => "OTHER",
    })
}

/// SIP messages through the endpoint, by direction, method and status.
#[derive(Debug)]
pub struct SipMetrics {
    /// By direction (`in`, `out`) and method.
    pub requests: CounterVec<2>,
    /// By direction, method (of the CSeq) and status code.
    pub responses: CounterVec<3>,
    /// REGISTERs refused with 403: wrong credentials, unknown device, blocked.
    pub auth_failures: Counter,
    pub bytes_sent: Counter,
}

impl Default for SipMetrics {
    fn default() -> Self {
        SipMetrics {
            requests: CounterVec::new(["direction", "method"]),
            responses: CounterVec::new(["direction", "method", "status"]),
            auth_failures: Counter::default(),
            bytes_sent: Counter::default(),
        }
    }
}

/// Known SIP methods keep their name as a label; the rest are `OTHER`.
fn sip_method_label(m: &Method) -> Label {
    Label::Borrowed(match m {
        Method::Other(_) => "OTHER",
        Method::Register => "REGISTER",
        Method::Message => "MESSAGE",
        Method::Invite => "INVITE",
        Method::Ack => "ACK",
        Method::Bye => "BYE",
        Method::Cancel => "CANCEL",
        Method::Options => "OPTIONS",
        Method::Info => "INFO",
        Method::Subscribe => "SUBSCRIBE",
        Method::Notify => "NOTIFY",
        Method::Refer => "REFER",
        Method::Update => "UPDATE",
        Method::Prack => "PRACK",
        Method::Publish => "PUBLISH",
    })
}

fn status_label(code: u16) -> Label {
    if (100..700).contains(&code) {
        Label::Owned(code.to_string())
    } else {
        Label::Borrowed("other")
    }
}

impl SipMetrics {
    /// A message the transport delivered (retransmissions included).
    pub fn received(&self, msg: &Message) {
        match msg {
            Message::Request(r) => self
                .requests
                .inc([Label::Borrowed("in"), sip_method_label(&r.method)]),
            Message::Response(r) => {
                let method = r
                    .headers
                    .cseq()
                    .map(|c| sip_method_label(&c.method))
                    .unwrap_or(Label::Borrowed("OTHER"));
                self.responses
                    .inc([Label::Borrowed("in"), method, status_label(r.status.code())]);
            }
        }
    }

    /// Bytes going out on the wire (retransmissions included). The start line and CSeq are
    /// read from the bytes, which vigil printed itself.
    pub fn sent(&self, bytes: &[u8]) {
        self.bytes_sent.add(bytes.len() as u64);
        let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return;
        };
        let line = &bytes[..line_end];
        if let Some(rest) = line.strip_prefix(b"SIP/2.0 ") {
            let code = rest
                .get(..3)
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(0);
            let method = cseq_method(bytes)
                .map(|m| sip_method_label(&m))
                .unwrap_or(Label::Borrowed("OTHER"));
            self.responses
                .inc([Label::Borrowed("out"), method, status_label(code)]);
        } else {
            let token = line.split(|&b| b == b' ').next().unwrap_or_default();
            let method = std::str::from_utf8(token)
                .map(|t| sip_method_label(&Method::from_token(t)))
                .unwrap_or(Label::Borrowed("OTHER"));
            self.requests.inc([Label::Borrowed("out"), method]);
        }
    }
}

/// The method of the CSeq header in printed message bytes.
fn cseq_method(bytes: &[u8]) -> Option<Method> {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    bytes[..head_end].split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = std::str::from_utf8(line).ok()?.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("CSeq") {
            return None;
        }
        let method = value.split_whitespace().nth(1)?;
        Some(Method::from_token(method))
    })
}

impl MetricSource for SipMetrics {
    fn render(&self, out: &mut Exposition) {
        self.requests.render(
            out,
            "vigil_sip_requests_total",
            "SIP requests by direction (in, out) and method, retransmissions included.",
        );
        self.responses.render(
            out,
            "vigil_sip_responses_total",
            "SIP responses by direction (in, out), CSeq method and status code.",
        );
        out.single(
            "vigil_sip_auth_failures_total",
            Kind::Counter,
            "REGISTERs refused with 403 (wrong credentials, unknown or blocked device).",
            self.auth_failures.get(),
        );
        out.single(
            "vigil_sip_bytes_sent_total",
            Kind::Counter,
            "SIP bytes sent (UDP and TCP).",
            self.bytes_sent.get(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format_with_escaped_labels() {
        let m = Metrics::default();
        m.http.requests.inc([
            Label::Borrowed("GET"),
            Label::Borrowed("/api/v1/devices/{device_id}"),
            Label::Borrowed("200"),
        ]);
        m.http.requests.add(
            [
                Label::Borrowed("GET"),
                Label::Owned("a\"b\\c\nd".into()),
                Label::Borrowed("404"),
            ],
            2,
        );
        let mut out = Exposition::new();
        m.render(&mut out);
        out.single("x_ratio", Kind::Gauge, "A float.", 0.5);
        out.single("x_inf", Kind::Gauge, "Infinite.", f64::INFINITY);
        let text = out.finish();
        assert!(text.starts_with(
            "# HELP vigil_http_requests_total HTTP requests by method, route pattern and status.\n\
             # TYPE vigil_http_requests_total counter\n"
        ));
        assert!(text.contains(
            "vigil_http_requests_total{method=\"GET\",route=\"/api/v1/devices/{device_id}\",status=\"200\"} 1\n"
        ));
        assert!(text.contains(
            "vigil_http_requests_total{method=\"GET\",route=\"a\\\"b\\\\c\\nd\",status=\"404\"} 2\n"
        ));
        assert!(text.contains(
            "# TYPE vigil_http_response_bytes_total counter\nvigil_http_response_bytes_total 0\n"
        ));
        assert!(
            text.ends_with("x_ratio 0.5\n# HELP x_inf Infinite.\n# TYPE x_inf gauge\nx_inf +Inf\n")
        );
        assert_eq!(
            m.http
                .requests
                .get(["GET", "/api/v1/devices/{device_id}", "200"]),
            1
        );
    }

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        let h = HistogramVec::new("route", &[0.1, 1.0]);
        for v in [0.05, 0.1, 0.5, 3.0] {
            h.observe(Label::Borrowed("/x"), v);
        }
        let mut out = Exposition::new();
        h.render(&mut out, "d_seconds", "D.");
        assert_eq!(
            out.finish(),
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n\
             d_seconds_bucket{route=\"/x\",le=\"1\"} 3\n\
             d_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n\
             d_seconds_sum{route=\"/x\"} 3.65\n\
             d_seconds_count{route=\"/x\"} 4\n"
        );
    }

    #[test]
    fn session_totals_keep_what_ended_sessions_counted() {
        let t = SessionTotals::<2>::default();
        assert_eq!(
            t.update([("a".into(), [10, 1]), ("b".into(), [5, 0])]),
            [15, 1]
        );
        assert_eq!(t.update([("a".into(), [20, 2])]), [25, 2], "b ended with 5");
        assert_eq!(t.update([]), [25, 2]);
        assert_eq!(t.update([("c".into(), [1, 0])]), [26, 2]);
    }

    #[test]
    fn sip_messages_are_counted_by_method_and_status_from_printed_bytes() {
        let s = SipMetrics::default();
        s.sent(b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n");
        s.sent(b"SIP/2.0 200 OK\r\ncseq:7 MESSAGE\r\n\r\nbody CSeq: 1 INVITE");
        s.sent(b"INVITE sip:34020000001320000001@3402000000 SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n");
        s.sent(b"FOO sip:x SIP/2.0\r\n\r\n");
        s.sent(b"garbage without a line end");
        assert_eq!(s.responses.get(["out", "REGISTER", "401"]), 1);
        assert_eq!(s.responses.get(["out", "MESSAGE", "200"]), 1);
        assert_eq!(s.requests.get(["out", "INVITE"]), 1);
        assert_eq!(s.requests.get(["out", "OTHER"]), 1);
        assert!(s.bytes_sent.get() > 100);

        let reg = Message::parse(
            b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
              Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1\r\n\
              From: <sip:34020000001320000001@3402000000>;tag=1\r\n\
              To: <sip:34020000001320000001@3402000000>\r\n\
              Call-ID: 1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        s.received(&reg);
        assert_eq!(s.requests.get(["in", "REGISTER"]), 1);
        let mut out = Exposition::new();
        s.render(&mut out);
        let text = out.finish();
        assert!(
            text.contains("vigil_sip_requests_total{direction=\"in\",method=\"REGISTER\"} 1\n"),
            "{text}"
        );
    }
}
