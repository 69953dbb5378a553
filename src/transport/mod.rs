//! SIP over UDP and TCP: the sockets live here. Listeners parse what arrives (vigil-sip),
//! answer what cannot be parsed with 400 where a response can be built, and hand every
//! message to the endpoint as an [`Inbound`] (UDP: read by the endpoint's own task through
//! [`udp::UdpReceiver`]; TCP: over a channel from the connection tasks). [`SipSender`] sends bytes back out on the
//! right socket or connection.

pub mod tcp;
pub mod udp;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::net::UdpSocket;
use vigil_sip::Message;

pub use tcp::{ConnId, TcpConnections};

/// Transport protocol of a message or a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }

    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a message came from / goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub proto: Proto,
    pub remote: SocketAddr,
    /// Our address the message arrived on.
    pub local: SocketAddr,
    /// The TCP connection, when there is one.
    pub conn: Option<ConnId>,
}

/// A parsed message from the network.
#[derive(Debug)]
pub struct Inbound {
    pub msg: Message,
    pub peer: Peer,
}

/// Counters for /metrics and logs.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub malformed: AtomicU64,
    pub dropped_overload: AtomicU64,
    pub send_errors: AtomicU64,
}

/// Sends SIP bytes to peers; cheap to clone.
#[derive(Debug, Clone)]
pub struct SipSender {
    udp: Option<Arc<UdpSocket>>,
    tcp: Option<TcpConnections>,
    pub stats: Arc<TransportStats>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no {0} transport is configured")]
    NoTransport(Proto),
    #[error("TCP connection to {0} is closed")]
    ConnectionClosed(SocketAddr),
    #[error("send to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
}

impl SipSender {
    pub fn new(
        udp: Option<Arc<UdpSocket>>,
        tcp: Option<TcpConnections>,
        stats: Arc<TransportStats>,
    ) -> SipSender {
        SipSender { udp, tcp, stats }
    }

    /// Sends one message's bytes. Over TCP it uses the peer's connection (or any open
    /// connection to that address); it connects when there is none and `connect` is true.
    pub async fn send(&self, peer: &Peer, bytes: Bytes, connect: bool) -> Result<(), SendError> {
        let r = match peer.proto {
            Proto::Udp => {
                let sock = self
                    .udp
                    .as_ref()
                    .ok_or(SendError::NoTransport(Proto::Udp))?;
                sock.send_to(&bytes, peer.remote)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError::Io(peer.remote, e))
            }
            Proto::Tcp => {
                let tcp = self
                    .tcp
                    .as_ref()
                    .ok_or(SendError::NoTransport(Proto::Tcp))?;
                tcp.send(peer, bytes, connect).await
            }
        };
        match &r {
            Ok(()) => self.stats.sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.stats.send_errors.fetch_add(1, Ordering::Relaxed),
        };
        r
    }

    /// The UDP socket, when UDP is on (the endpoint's task reads it, see [`udp::UdpReceiver`]).
    pub fn udp_socket(&self) -> Option<Arc<UdpSocket>> {
        self.udp.clone()
    }

    /// Local address of the UDP socket, when UDP is on.
    pub fn udp_local(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Local address of the TCP listener, when TCP is on.
    pub fn tcp_local(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().map(|t| t.local_addr())
    }
}

/// Logs a malformed message once per source at most every few seconds would be nicer; a
/// debug line per message plus a counter is what we do now.
pub(crate) fn log_malformed(peer: &Peer, err: &vigil_sip::ParseError, answered: bool) {
    tracing::warn!(
        remote = %peer.remote,
        proto = %peer.proto,
        offset = err.offset(),
        reason = %err.reason(),
        answered,
        "malformed SIP message"
    );
}
