//! The SIP UDP listener: one datagram, one message. Bad datagrams are answered with 400
//! when the request headers needed for a response are readable, else dropped and logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
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

/// Receives until `stop`; hands messages to `inbound`.
pub async fn run(
    sock: Arc<UdpSocket>,
    inbound: mpsc::Sender<Inbound>,
    sender: SipSender,
    stop: CancellationToken,
) {
    let local = match sock.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "UDP socket has no local address");
            return;
        }
    };
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, remote) = tokio::select! {
            _ = stop.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP port unreachable from an earlier send shows up here on some
                    // systems; it is not fatal for the listener.
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            },
        };
        let data = &buf[..n];
        sender.stats.received.fetch_add(1, Ordering::Relaxed);
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            continue; // CRLF keep-alive
        }
        let peer = Peer {
            proto: Proto::Udp,
            remote,
            local,
            conn: None,
        };
        match vigil_sip::parse_bytes(Bytes::copy_from_slice(data)) {
            Ok(Message::Request(mut req)) => {
                if let Err(e) = vigil_sip::routing::stamp_received(&mut req, remote) {
                    tracing::debug!(%remote, error = %e, "cannot stamp received on Via");
                }
                if let Some((to, busy)) = deliver(
                    &inbound,
                    &sender.stats,
                    Inbound {
                        msg: Message::Request(req),
                        peer,
                    },
                ) {
                    let _ = sender.send(&to, busy, false).await;
                }
            }
            Ok(msg) => {
                deliver(&inbound, &sender.stats, Inbound { msg, peer });
            }
            Err(err) => {
                sender.stats.malformed.fetch_add(1, Ordering::Relaxed);
                let resp = err.bad_request();
                super::log_malformed(&peer, &err, resp.is_some());
                if let Some(resp) = resp {
                    let _ = sender
                        .send(&peer, Bytes::from(resp.to_bytes()), false)
                        .await;
                }
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
