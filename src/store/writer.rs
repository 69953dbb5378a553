//! Batched writes for the SIP hot path: registrations (group commit: the caller may wait for
//! durability) and keepalive `last_seen` stamps (write-behind, coalesced per device).
//!
//! One task owns the queue; it takes whatever has arrived, applies it in one transaction and
//! tells the waiters. Under load batches grow, so throughput is bounded by transactions per
//! second times batch size, not by one round trip per registration. A failed batch is
//! retried, never dropped silently.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{RegistrationRow, Store, StoreError};

/// Upper bound on writes per transaction.
const MAX_BATCH: usize = 2000;
/// Queue depth; senders wait (backpressure) rather than grow memory without bound.
const QUEUE: usize = 16_384;

/// A state change of a device, applied in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateWrite {
    Registered(RegistrationRow),
    Offline {
        device_id: String,
        at: i64,
    },
    /// Back online without a new REGISTER (keepalives resumed within the registration).
    Online {
        device_id: String,
        at: i64,
    },
}

/// What one transaction applies.
#[derive(Debug, Default)]
pub struct Batch {
    pub ops: Vec<StateWrite>,
    /// Newest keepalive time per device (only ever moves forward).
    pub last_seen: Vec<(String, i64)>,
}

enum Write {
    State(StateWrite, Option<oneshot::Sender<Result<(), String>>>),
    LastSeen(String, i64),
    Flush(oneshot::Sender<()>),
}

/// Sending side of the writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    tx: mpsc::Sender<Write>,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Write::State(s, _) => write!(f, "State({s:?})"),
            Write::LastSeen(id, t) => write!(f, "LastSeen({id}, {t})"),
            Write::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl StoreWriter {
    /// Starts the writer task. It ends once every `StoreWriter` clone is dropped and the
    /// queue is drained.
    pub fn spawn(store: Store) -> (StoreWriter, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, rx));
        (StoreWriter { tx }, task)
    }

    /// Records a state change and waits until it is committed.
    pub async fn write_durable(&self, w: StateWrite) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Write::State(w, Some(done)))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Db(sqlx::Error::Protocol(e))),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    /// Records a state change without waiting for the commit.
    pub async fn write(&self, w: StateWrite) -> Result<(), StoreError> {
        self.tx
            .send(Write::State(w, None))
            .await
            .map_err(|_| StoreError::WriterGone)
    }

    /// Stamps `last_seen` (write-behind; coalesced).
    pub fn last_seen(&self, device_id: &str, at: i64) {
        if self
            .tx
            .try_send(Write::LastSeen(device_id.to_owned(), at))
            .is_err()
        {
            // Queue full: a newer stamp will follow with the next keepalive, and online
            // state does not depend on this column, so dropping one is harmless.
            tracing::debug!(device_id, "store queue full, last_seen stamp skipped");
        }
    }

    /// Waits until everything queued before this call is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Write::Flush(done))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        wait.await.map_err(|_| StoreError::WriterGone)
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Write>) {
    let mut pending: Vec<Write> = Vec::new();
    while let Some(first) = rx.recv().await {
        pending.push(first);
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => pending.push(w),
                Err(_) => break,
            }
        }
        let mut batch = Batch::default();
        let mut waiters = Vec::new();
        let mut flushes = Vec::new();
        let mut seen: HashMap<String, i64> = HashMap::new();
        for w in pending.drain(..) {
            match w {
                Write::State(s, done) => {
                    batch.ops.push(s);
                    waiters.extend(done);
                }
                Write::LastSeen(id, t) => {
                    let e = seen.entry(id).or_insert(t);
                    *e = (*e).max(t);
                }
                Write::Flush(done) => flushes.push(done),
            }
        }
        batch.last_seen = seen.into_iter().collect();
        let result = apply_with_retry(&store, &batch).await;
        for w in waiters {
            let _ = w.send(result.clone());
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

async fn apply_with_retry(store: &Store, batch: &Batch) -> Result<(), String> {
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match store.apply_batch(batch).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 => {
                tracing::warn!(error = %e, attempt, writes = batch.ops.len(), "store batch failed, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, writes = batch.ops.len(), "store batch failed, giving up");
                return Err(e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(id: &str, at: i64) -> RegistrationRow {
        RegistrationRow {
            device_id: id.into(),
            transport: "tcp".into(),
            contact: format!("<sip:{id}@127.0.0.1:5070;transport=tcp>"),
            source_addr: "127.0.0.1:5070".into(),
            local_addr: "127.0.0.1:5060".into(),
            expires: 60,
            registered_at: at,
        }
    }

    #[tokio::test]
    async fn many_concurrent_durable_writes_all_land_in_order_per_device() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        let (w, task) = StoreWriter::spawn(store.clone());
        let mut joins = Vec::new();
        for i in 0..500 {
            let w = w.clone();
            joins.push(tokio::spawn(async move {
                let id = format!("3402000000132{:07}", i);
                w.write_durable(StateWrite::Registered(reg(&id, 1000 + i)))
                    .await
                    .unwrap();
            }));
        }
        for j in joins {
            j.await.unwrap();
        }
        // Offline then re-registered in the same batch ends online.
        let id = "34020000001320000000";
        w.write(StateWrite::Offline {
            device_id: id.into(),
            at: 5000,
        })
        .await
        .unwrap();
        w.write(StateWrite::Registered(reg(id, 6000)))
            .await
            .unwrap();
        w.last_seen(id, 7000);
        w.last_seen(id, 6500);
        w.flush().await.unwrap();
        let all = store.list_devices().await.unwrap();
        assert_eq!(all.len(), 500);
        assert!(all.iter().all(|d| d.online));
        let d = store.get_device(id).await.unwrap().unwrap();
        assert_eq!(d.registered_at, Some(6000));
        assert_eq!(d.last_seen, Some(7000));
        drop(w);
        task.await.unwrap();
    }
}
