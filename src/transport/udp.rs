//! The SIP UDP listener: one datagram, one message. Bad datagrams are answered with 400
//! when the request headers needed for a response are readable, else dropped and logged.
//! The endpoint's task reads the socket itself through [`UdpReceiver`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use vigil_sip::{Message, Response};

use super::{Inbound, Peer, Proto, SipSender};

/// Binds the UDP socket with a large receive buffer (bursts of registrations).
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the kernel may cap it (net.core.rmem_max).
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Datagrams read off the SIP UDP socket by the task that handles them (the endpoint's), so
/// a request reaches the transaction layer without a channel hop or a wake-up of another
/// task. Keep-alives are skipped here, and malformed datagrams answered with 400 (when
/// possible) or dropped, so only parsed messages come out.
#[derive(Debug)]
pub struct UdpReceiver {
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    buf: Vec<u8>,
    sender: SipSender,
}

impl UdpReceiver {
    pub fn new(sock: Arc<UdpSocket>, sender: SipSender) -> std::io::Result<UdpReceiver> {
        let local = sock.local_addr()?;
        Ok(UdpReceiver {
            sock,
            local,
            buf: vec![0u8; 65_535],
            sender,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits until a datagram may be waiting. Cancel-safe (for `select!`).
    pub async fn readable(&self) -> std::io::Result<()> {
        self.sock.readable().await
    }

    /// Reads and parses one datagram if one is waiting; never waits. `Ready(Some)`: a message;
    /// `Ready(None)`: a datagram consumed here (keep-alive, malformed) or a transient error;
    /// `Pending`: nothing waiting, await [`Self::readable`] again.
    pub fn try_recv(&mut self) -> Poll<Option<Inbound>> {
        let (n, remote) = match self.sock.try_recv_from(&mut self.buf) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(e) => {
                // ICMP port unreachable from an earlier send shows up here on some systems;
                // it is not fatal for the listener.
                tracing::debug!(error = %e, "UDP receive error");
                return Poll::Ready(None);
            }
        };
        let data = &self.buf[..n];
        let stats = &self.sender.stats;
        stats.received.fetch_add(1, Ordering::Relaxed);
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            return Poll::Ready(None); // CRLF keep-alive
        }
        let peer = Peer {
            proto: Proto::Udp,
            remote,
            local: self.local,
            conn: None,
        };
        match vigil_sip::parse_bytes(Bytes::copy_from_slice(data)) {
            Ok(Message::Request(mut req)) => {
                if let Err(e) = vigil_sip::routing::stamp_received(&mut req, remote) {
                    tracing::debug!(%remote, error = %e, "cannot stamp received on Via");
                }
                Poll::Ready(Some(Inbound {
                    msg: Message::Request(req),
                    peer,
                }))
            }
            Ok(msg) => Poll::Ready(Some(Inbound { msg, peer })),
            Err(err) => {
                stats.malformed.fetch_add(1, Ordering::Relaxed);
                let resp = err.bad_request();
                super::log_malformed(&peer, &err, resp.is_some());
                if let Some(resp) = resp {
                    // Never wait on the receive path: a 400 that finds the socket buffer
                    // full is dropped (the sender will retransmit or give up).
                    match self.sock.try_send_to(&resp.to_bytes(), remote) {
                        Ok(_) => stats.sent.fetch_add(1, Ordering::Relaxed),
                        Err(_) => stats.send_errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
                Poll::Ready(None)
            }
        }
    }
}

/// Queues a message for the endpoint. When the endpoint is overloaded, returns the 503
/// (RFC 3261 §21.5.4, so the device retries later) to send for a request; a response is
/// dropped.
pub(crate) fn deliver(
    inbound: &mpsc::Sender<Inbound>,
    stats: &super::TransportStats,
    msg: Inbound,
) -> Option<(Peer, Bytes)> {
    match inbound.try_send(msg) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(m)) => {
            stats.dropped_overload.fetch_add(1, Ordering::Relaxed);
            match &m.msg {
                Message::Request(req) if req.method != vigil_sip::Method::Ack => {
                    let mut resp = Response::for_request(req, 503, "Overloaded");
                    resp.headers.push("Retry-After", "5");
                    Some((m.peer, Bytes::from(resp.to_bytes())))
                }
                _ => None,
            }
        }
        Err(mpsc::error::TrySendError::Closed(_)) => None,
    }
}
