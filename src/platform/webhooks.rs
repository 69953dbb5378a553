//! Webhooks: every event on the bus is POSTed as JSON to each configured receiver.
//!
//! One dispatcher task reads the bus and puts each event (serialized and signed once) on
//! every receiver's bounded queue; one task per receiver delivers its queue in order,
//! retrying with exponential backoff. When a queue is full its oldest event is dropped and
//! counted, so a slow or dead receiver only loses its own events and never holds up the
//! bus, the platform or the other receivers.
//!
//! A delivery is `POST <url>` with the event as body (`{"id": .., "at": .., "type": ..,
//! ...}`) and the headers `X-Vigil-Event` (the type), `X-Vigil-Delivery` (the id, the same on
//! every attempt, so receivers can drop duplicates), `X-Vigil-Attempt` and, when a secret
//! is configured, `X-Vigil-Signature: sha256=<hex HMAC-SHA256 of the body>`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::events::{Event, EventBus};
use crate::config::WebhooksConfig;
use crate::metrics::{Counter, Exposition, Kind, MetricSource};

/// The signature header: `sha256=<hex>` over the exact body bytes.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature";
pub const EVENT_HEADER: &str = "X-Vigil-Event";
pub const DELIVERY_HEADER: &str = "X-Vigil-Delivery";
pub const ATTEMPT_HEADER: &str = "X-Vigil-Attempt";

/// How often at most a receiver's queue overflow is logged.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The running webhooks (cheap to share); renders their metrics.
#[derive(Debug)]
pub struct Webhooks {
    receivers: Vec<Arc<Receiver>>,
}

/// One event, ready to send.
#[derive(Debug, Clone)]
struct Delivery {
    id: String,
    event: &'static str,
    body: Bytes,
    signature: Option<String>,
}

#[derive(Debug)]
struct Receiver {
    url: reqwest::Url,
    /// The URL without credentials or query, for logs and metric labels.
    label: String,
    capacity: usize,
    queue: Mutex<Queue>,
    ready: Notify,
    delivered: Counter,
    failed: Counter,
    dropped: Counter,
    attempts: Counter,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Delivery>,
    last_drop_log: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    max_attempts: u32,
    first_delay: Duration,
    max_delay: Duration,
}

/// The body of a delivery: the event with its delivery id.
#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    #[serde(flatten)]
    event: &'a Event,
}

/// Subscribes to `events` (at once, so nothing published after this call is missed) and
/// starts the delivery tasks; they end with `stop`. Fails on a URL that does not parse.
pub fn start(
    config: &WebhooksConfig,
    events: &EventBus,
    stop: CancellationToken,
) -> anyhow::Result<Arc<Webhooks>> {
    let mut receivers = Vec::new();
    for (i, u) in config.urls.iter().enumerate() {
        // The URL may hold credentials: the error names its position, not its text.
        let url = reqwest::Url::parse(u)
            .map_err(|e| anyhow::anyhow!("webhooks.urls[{i}] is not a valid URL: {e}"))?;
        receivers.push(Arc::new(Receiver {
            label: label(&url),
            url,
            capacity: config.queue.max(1),
            queue: Mutex::default(),
            ready: Notify::new(),
            delivered: Counter::default(),
            failed: Counter::default(),
            dropped: Counter::default(),
            attempts: Counter::default(),
        }));
    }
    let hooks = Arc::new(Webhooks { receivers });
    if hooks.receivers.is_empty() {
        return Ok(hooks);
    }
    if config.secret.expose().is_empty() {
        tracing::warn!(
            "webhooks.secret is empty: deliveries are not signed, receivers cannot tell them from forgeries"
        );
    }
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let policy = RetryPolicy {
        max_attempts: config.max_attempts.max(1),
        first_delay: config.retry_delay,
        max_delay: config.retry_max_delay.max(config.retry_delay),
    };
    for r in &hooks.receivers {
        tracing::info!(receiver = %r.label, queue = r.capacity, "webhook receiver");
        tokio::spawn(deliver_loop(
            r.clone(),
            client.clone(),
            policy,
            stop.clone(),
        ));
    }
    tokio::spawn(dispatch(
        hooks.clone(),
        events.subscribe(),
        config.secret.expose().as_bytes().to_vec(),
        config.events.clone(),
        stop,
    ));
    Ok(hooks)
}

/// Reads the bus and queues each event for every receiver.
async fn dispatch(
    hooks: Arc<Webhooks>,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
    secret: Vec<u8>,
    only: Vec<String>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            r = rx.recv() => r,
        };
        match event {
            Ok(event) => {
                let name = event.kind.name();
                if !only.is_empty() && !only.iter().any(|o| o == name) {
                    continue;
                }
                let id = format!("{:032x}", rand::random::<u128>());
                let body = match serde_json::to_vec(&Payload {
                    id: &id,
                    event: &event,
                }) {
                    Ok(b) => Bytes::from(b),
                    Err(e) => {
                        tracing::error!(error = %e, event = name, "webhook: event does not serialize");
                        continue;
                    }
                };
                let signature = (!secret.is_empty()).then(|| sign(&secret, &body));
                let delivery = Delivery {
                    id,
                    event: name,
                    body,
                    signature,
                };
                for r in &hooks.receivers {
                    r.push(delivery.clone());
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "webhooks fell behind the event bus; events lost for every receiver"
                );
                for r in &hooks.receivers {
                    r.dropped.add(n);
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

impl Receiver {
    /// Queues a delivery; when full, drops the oldest.
    fn push(&self, d: Delivery) {
        let mut q = self.queue.lock().expect("webhook queue");
        if q.items.len() >= self.capacity {
            q.items.pop_front();
            self.dropped.inc();
            let now = Instant::now();
            if q.last_drop_log
                .is_none_or(|t| now.duration_since(t) >= DROP_LOG_INTERVAL)
            {
                q.last_drop_log = Some(now);
                tracing::warn!(
                    receiver = %self.label,
                    queue = self.capacity,
                    dropped_total = self.dropped.get(),
                    "webhook queue full (receiver slow or down): dropping the oldest events"
                );
            }
        }
        q.items.push_back(d);
        drop(q);
        self.ready.notify_one();
    }

    async fn next(&self) -> Delivery {
        loop {
            if let Some(d) = self.queue.lock().expect("webhook queue").items.pop_front() {
                return d;
            }
            // notify_one keeps a permit when nobody waits, so a push between the check
            // and this await is not missed.
            self.ready.notified().await;
        }
    }

    fn queued(&self) -> usize {
        self.queue.lock().expect("webhook queue").items.len()
    }
}

/// Delivers one receiver's queue in order.
async fn deliver_loop(
    r: Arc<Receiver>,
    client: reqwest::Client,
    policy: RetryPolicy,
    stop: CancellationToken,
) {
    loop {
        let d = tokio::select! {
            _ = stop.cancelled() => return,
            d = r.next() => d,
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = deliver(&r, &client, policy, &d) => {}
        }
    }
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    /// Worth another try, not before the delay given (Retry-After).
    Retry(String, Option<Duration>),
    GiveUp(String),
}

async fn deliver(r: &Receiver, client: &reqwest::Client, policy: RetryPolicy, d: &Delivery) {
    for attempt in 1..=policy.max_attempts {
        r.attempts.inc();
        let outcome = attempt_once(r, client, d, attempt).await;
        let (why, not_before) = match outcome {
            Outcome::Delivered => {
                r.delivered.inc();
                tracing::debug!(receiver = %r.label, delivery = %d.id, event = d.event, attempt, "webhook delivered");
                return;
            }
            Outcome::GiveUp(why) => {
                r.failed.inc();
                tracing::warn!(receiver = %r.label, delivery = %d.id, event = d.event, attempt, %why, "webhook refused; not retried");
                return;
            }
            Outcome::Retry(why, not_before) => (why, not_before),
        };
        if attempt == policy.max_attempts {
            r.failed.inc();
            tracing::warn!(receiver = %r.label, delivery = %d.id, event = d.event, attempts = attempt, %why, "webhook failed; giving up");
            return;
        }
        let delay = retry_delay(attempt, policy.first_delay, policy.max_delay)
            .max(not_before.unwrap_or_default().min(policy.max_delay));
        tracing::debug!(receiver = %r.label, delivery = %d.id, attempt, %why, ?delay, "webhook attempt failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

async fn attempt_once(
    r: &Receiver,
    client: &reqwest::Client,
    d: &Delivery,
    attempt: u32,
) -> Outcome {
    let mut req = client
        .post(r.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, d.event)
        .header(DELIVERY_HEADER, &d.id)
        .header(ATTEMPT_HEADER, attempt.to_string())
        .body(d.body.clone());
    if let Some(sig) = &d.signature {
        req = req.header(SIGNATURE_HEADER, sig);
    }
    match req.send().await {
        Ok(resp) if resp.status().is_success() => Outcome::Delivered,
        Ok(resp) => {
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let why = format!("HTTP {status}");
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Outcome::Retry(why, retry_after)
            } else {
                Outcome::GiveUp(why)
            }
        }
        // Connection refused, reset, timeout, TLS: the receiver may come back.
        Err(e) => Outcome::Retry(error_chain(e), None),
    }
}

/// The delay before retry number `retry` (1 = after the first attempt): `first`, doubling,
/// at most `max`.
fn retry_delay(retry: u32, first: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    first.saturating_mul(factor).min(max)
}

/// `sha256=<hex>`: HMAC-SHA256 of `body` keyed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// scheme://host[:port]/path: no credentials, no query (either may hold secrets).
fn label(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

/// An error with its causes, without the URL reqwest puts in (it may hold credentials).
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

impl MetricSource for Webhooks {
    fn render(&self, out: &mut Exposition) {
        out.family(
            "vigil_webhook_deliveries_total",
            Kind::Counter,
            "Webhook events by receiver and result: delivered (2xx) or failed (refused or out of attempts).",
        );
        for r in &self.receivers {
            for (result, c) in [("delivered", &r.delivered), ("failed", &r.failed)] {
                out.sample(
                    "vigil_webhook_deliveries_total",
                    &[("receiver", &r.label), ("result", result)],
                    c.get(),
                );
            }
        }
        type PerReceiver = fn(&Receiver) -> u64;
        let families: [(&str, Kind, &str, PerReceiver); 3] = [
            (
                "vigil_webhook_attempts_total",
                Kind::Counter,
                "Webhook POST attempts by receiver, retries included.",
                |r| r.attempts.get(),
            ),
            (
                "vigil_webhook_events_dropped_total",
                Kind::Counter,
                "Webhook events dropped unsent because the receiver's queue was full.",
                |r| r.dropped.get(),
            ),
            (
                "vigil_webhook_queue_length",
                Kind::Gauge,
                "Webhook events waiting per receiver.",
                |r| r.queued() as u64,
            ),
        ];
        for (name, kind, help, value) in families {
            out.family(name, kind, help);
            for r in &self.receivers {
                out.sample(name, &[("receiver", &r.label)], value(r));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(capacity: usize) -> Receiver {
        let url = reqwest::Url::parse("https://user:pw@hooks.example:8443/vigil?token=t").unwrap();
        Receiver {
            label: label(&url),
            url,
            capacity,
            queue: Mutex::default(),
            ready: Notify::new(),
            delivered: Counter::default(),
            failed: Counter::default(),
            dropped: Counter::default(),
            attempts: Counter::default(),
        }
    }

    fn delivery(id: &str) -> Delivery {
        Delivery {
            id: id.into(),
            event: "device_online",
            body: Bytes::from_static(b"{}"),
            signature: None,
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retry_delays_double_up_to_the_maximum() {
        let d = |n| retry_delay(n, Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(
            [d(1), d(2), d(3), d(9), d(10), d(1000)].map(|d| d.as_secs()),
            [1, 2, 4, 256, 300, 300]
        );
    }

    #[tokio::test]
    async fn labels_and_errors_hide_credentials_and_query() {
        let r = receiver(1);
        assert_eq!(r.label, "https://hooks.example:8443/vigil");
        let e = reqwest::Client::new()
            .post("http://user:pw@127.0.0.1:1/hook?token=secret")
            .send()
            .await
            .unwrap_err();
        let text = error_chain(e);
        assert!(!text.contains("secret") && !text.contains("pw"), "{text}");
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_counts_it() {
        let r = receiver(3);
        for i in 0..5 {
            r.push(delivery(&i.to_string()));
        }
        assert_eq!(r.queued(), 3);
        assert_eq!(r.dropped.get(), 2);
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(r.next().await.id);
        }
        assert_eq!(ids, ["2", "3", "4"]);
        // A push while the consumer waits wakes it.
        let r = Arc::new(r);
        let waiter = tokio::spawn({
            let r = r.clone();
            async move { r.next().await.id }
        });
        tokio::task::yield_now().await;
        r.push(delivery("5"));
        assert_eq!(waiter.await.unwrap(), "5");
    }
}
