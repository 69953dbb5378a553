//! SIP over TCP: the listener, one reader and one writer task per connection, and the table
//! of open connections that requests and responses are sent through. Connections are
//! bounded in number and closed after `tcp_idle_timeout` without traffic. Framing is
//! vigil-sip's stream framer (Content-Length required, 64 KiB cap, CRLF keep-alives).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use vigil_sip::Message;
use vigil_sip::stream::{Frame, FrameError, KeepAlive, StreamFramer};

use super::{Inbound, Peer, Proto, SendError, SipSender, TransportStats};

/// Identifies one TCP connection for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Messages queued per connection before the writer is considered stuck.
const WRITE_QUEUE: usize = 256;

#[derive(Debug)]
struct Conn {
    remote: SocketAddr,
    tx: mpsc::Sender<Bytes>,
}

#[derive(Debug)]
struct Inner {
    local: SocketAddr,
    conns: Mutex<HashMap<ConnId, Conn>>,
    by_remote: Mutex<HashMap<SocketAddr, ConnId>>,
    next_id: AtomicU64,
    limit: Arc<Semaphore>,
    idle_timeout: Duration,
    inbound: mpsc::Sender<Inbound>,
    stats: Arc<TransportStats>,
    stop: CancellationToken,
}

/// The open SIP TCP connections; cheap to clone.
#[derive(Debug, Clone)]
pub struct TcpConnections {
    inner: Arc<Inner>,
}

impl TcpConnections {
    pub fn new(
        local: SocketAddr,
        max_connections: usize,
        idle_timeout: Duration,
        inbound: mpsc::Sender<Inbound>,
        stats: Arc<TransportStats>,
        stop: CancellationToken,
    ) -> TcpConnections {
        TcpConnections {
            inner: Arc::new(Inner {
                local,
                conns: Mutex::new(HashMap::new()),
                by_remote: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                limit: Arc::new(Semaphore::new(max_connections.max(1))),
                idle_timeout,
                inbound,
                stats,
                stop,
            }),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.inner.conns.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends on the peer's connection, or any open connection to its address; connects
    /// when there is none and `connect` is set (requests to a device whose connection
    /// dropped).
    pub async fn send(&self, peer: &Peer, bytes: Bytes, connect: bool) -> Result<(), SendError> {
        match self.send_existing(peer, bytes.clone()) {
            Err(SendError::ConnectionClosed(_)) if connect => {}
            r => return r,
        }
        let tx = self.connect(peer.remote).await?;
        tx.try_send(bytes)
            .map_err(|_| SendError::ConnectionClosed(peer.remote))
    }

    /// Sends on an open connection only.
    fn send_existing(&self, peer: &Peer, bytes: Bytes) -> Result<(), SendError> {
        let tx = {
            let conns = self.inner.conns.lock().expect("tcp table poisoned");
            let by_id = peer.conn.and_then(|id| conns.get(&id));
            let by_addr = || {
                let by_remote = self.inner.by_remote.lock().expect("tcp table poisoned");
                by_remote.get(&peer.remote).and_then(|id| conns.get(id))
            };
            by_id.or_else(by_addr).map(|c| c.tx.clone())
        };
        let tx = tx.ok_or(SendError::ConnectionClosed(peer.remote))?;
        tx.try_send(bytes)
            .map_err(|_| SendError::ConnectionClosed(peer.remote))
    }

    async fn connect(&self, remote: SocketAddr) -> Result<mpsc::Sender<Bytes>, SendError> {
        let permit = self
            .inner
            .limit
            .clone()
            .try_acquire_owned()
            .map_err(|_| SendError::ConnectionClosed(remote))?;
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(remote))
            .await
            .map_err(|_| SendError::Io(remote, std::io::ErrorKind::TimedOut.into()))?
            .map_err(|e| SendError::Io(remote, e))?;
        let local = stream.local_addr().map_err(|e| SendError::Io(remote, e))?;
        let (id, tx, rx) = self.register(remote);
        tokio::spawn(self.clone().serve(stream, id, remote, local, rx, permit));
        Ok(tx)
    }

    fn register(&self, remote: SocketAddr) -> (ConnId, mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>) {
        let id = ConnId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        self.inner.conns.lock().expect("tcp table poisoned").insert(
            id,
            Conn {
                remote,
                tx: tx.clone(),
            },
        );
        self.inner
            .by_remote
            .lock()
            .expect("tcp table poisoned")
            .insert(remote, id);
        (id, tx, rx)
    }

    fn unregister(&self, id: ConnId) {
        let removed = self
            .inner
            .conns
            .lock()
            .expect("tcp table poisoned")
            .remove(&id);
        if let Some(c) = removed {
            let mut by_remote = self.inner.by_remote.lock().expect("tcp table poisoned");
            if by_remote.get(&c.remote) == Some(&id) {
                by_remote.remove(&c.remote);
            }
        }
    }

    /// Accepts connections until `stop`.
    pub async fn run_listener(self, listener: TcpListener, sender: SipSender) {
        let stop = self.inner.stop.clone();
        loop {
            let (stream, remote) = tokio::select! {
                _ = stop.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = self.inner.limit.clone().try_acquire_owned() else {
                tracing::warn!(%remote, "SIP TCP connection refused: tcp_max_connections reached");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().unwrap_or(self.inner.local);
            let (id, _tx, rx) = self.register(remote);
            let _ = &sender;
            tokio::spawn(self.clone().serve(stream, id, remote, local, rx, permit));
        }
    }

    async fn serve(
        self,
        stream: TcpStream,
        id: ConnId,
        remote: SocketAddr,
        local: SocketAddr,
        mut rx: mpsc::Receiver<Bytes>,
        _permit: OwnedSemaphorePermit,
    ) {
        tracing::debug!(%remote, conn = id.0, "SIP TCP connection open");
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if wr.write_all(&b).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });
        let peer = Peer {
            proto: Proto::Tcp,
            remote,
            local,
            conn: Some(id),
        };
        let reason = self.read_loop(&mut rd, &peer).await;
        tracing::debug!(%remote, conn = id.0, reason, "SIP TCP connection closed");
        self.unregister(id);
        writer.abort();
    }

    async fn read_loop(
        &self,
        rd: &mut tokio::net::tcp::OwnedReadHalf,
        peer: &Peer,
    ) -> &'static str {
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; 16 * 1024];
        let stop = self.inner.stop.clone();
        loop {
            let n = tokio::select! {
                _ = stop.cancelled() => return "shutdown",
                r = tokio::time::timeout(self.inner.idle_timeout, rd.read(&mut buf)) => match r {
                    Err(_) => return "idle timeout",
                    Ok(Err(_)) => return "read error",
                    Ok(Ok(0)) => return "closed by peer",
                    Ok(Ok(n)) => n,
                },
            };
            framer.push(&buf[..n]);
            loop {
                match framer.next() {
                    None => break,
                    Some(Ok(Frame::KeepAlive(KeepAlive::Pong))) => {}
                    Some(Ok(Frame::KeepAlive(KeepAlive::Ping))) => {
                        // RFC 5626 §4.4.1: answer a double-CRLF ping with a CRLF pong.
                        let _ = self.send_existing(peer, Bytes::from_static(b"\r\n"));
                    }
                    Some(Ok(Frame::Message(msg))) => {
                        self.inner.stats.received.fetch_add(1, Ordering::Relaxed);
                        let msg = match msg {
                            Message::Request(mut req) => {
                                let _ = vigil_sip::routing::stamp_received(&mut req, peer.remote);
                                Message::Request(req)
                            }
                            m => m,
                        };
                        if let Some((to, busy)) = super::udp::deliver(
                            &self.inner.inbound,
                            &self.inner.stats,
                            Inbound { msg, peer: *peer },
                        ) {
                            let _ = self.send_existing(&to, busy);
                        }
                    }
                    Some(Err(err)) => {
                        self.inner.stats.malformed.fetch_add(1, Ordering::Relaxed);
                        let resp = match &err {
                            FrameError::Parse(p) => p.bad_request(),
                            _ => None,
                        };
                        tracing::warn!(remote = %peer.remote, proto = "tcp", reason = %err, answered = resp.is_some(), "malformed SIP message on stream");
                        if let Some(resp) = resp {
                            let _ = self.send_existing(peer, Bytes::from(resp.to_bytes()));
                        }
                        if err.is_fatal() {
                            // Framing is lost: the only safe thing is to close.
                            return "framing error";
                        }
                    }
                }
            }
        }
    }
}
