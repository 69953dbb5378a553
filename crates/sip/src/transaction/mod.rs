//! SIP transactions (RFC 3261 §17, with the RFC 6026 "Accepted" state for INVITE): the four state
//! machines, timers A..M on one timer table, and matching of responses and retransmitted requests
//! (§17.1.3, §17.2.3, with the RFC 2543 fallback for old cameras).
//!
//! Sans-IO in the style of quinn-proto: feed [`TransactionLayer::handle_message`],
//! [`TransactionLayer::handle_timeout`] and the `send_*` calls with the current time, then drain
//! [`TransactionLayer::poll_transmit`] and [`TransactionLayer::poll_event`], and sleep until
//! [`TransactionLayer::poll_timeout`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use vigil_sip::transaction::{Timers, TransactionLayer, TxEvent};
//! use vigil_sip::{Message, Response};
//!
//! let mut server: TransactionLayer<&str> = TransactionLayer::new(Timers::default());
//! let now = Instant::now(); // in a driver; the layer itself never reads a clock
//! let msg = Message::parse(b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK42\r\n\
//! From: <sip:34020000001320000001@3402000000>;tag=1\r\nTo: <sip:34020000002000000001@3402000000>\r\n\
//! Call-ID: k1\r\nCSeq: 20 MESSAGE\r\nContent-Length: 0\r\n\r\n").unwrap();
//! server.handle_message(now, msg, "192.168.1.64:5060", false);
//! let Some(TxEvent::NewRequest { key, request, .. }) = server.poll_event() else { panic!() };
//! let ok = Response::for_request(&request, 200, "").with_to_tag("p1");
//! server.send_response(now, key, ok).unwrap();
//! let out = server.poll_transmit().unwrap();
//! assert_eq!(out.to, "192.168.1.64:5060");
//! assert!(out.data.starts_with(b"SIP/2.0 200 OK\r\n"));
//! // Timer J keeps the transaction 64*T1 to absorb retransmissions, then it ends.
//! assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(32)));
//! ```

mod build;
mod key;
mod layer;
mod machine;
mod timer;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::error::HeaderError;
use crate::message::{Request, Response};

pub use build::cancel_for;
pub use layer::TransactionLayer;

/// RFC 3261 timer base values (§17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate; retransmissions start at T1, timeouts are 64*T1. Default 500 ms.
    pub t1: Duration,
    /// Cap on the retransmission interval of non-INVITE requests and INVITE responses. Default 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network. Default 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64*T1: timers B, F, H, J, L, M and the 2xx retransmission window.
    pub fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D: at least 32 s over UDP (§17.1.1.2).
    pub fn timer_d(&self) -> Duration {
        self.t1_x64().max(Duration::from_secs(32))
    }

    /// Zero timers would spin; clamp to 1 ms and keep T2 >= T1.
    fn sanitized(self) -> Timers {
        let ms = Duration::from_millis(1);
        let t1 = self.t1.max(ms);
        Timers {
            t1,
            t2: self.t2.max(t1),
            t4: self.t4.max(ms),
        }
    }
}

/// Layer configuration: the RFC timers plus the limits that keep a flood bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub timers: Timers,
    /// Live server transactions allowed; a new request beyond this gives
    /// [`TxEvent::Overloaded`] (answer 503 with [`TransactionLayer::send_stateless`]). Default 10 000.
    pub max_server_transactions: usize,
    /// Send `100 Trying` when the application has not answered an INVITE within this (§17.2.1).
    /// `None` disables it. Default 200 ms.
    pub trying_after: Option<Duration>,
    /// Timer C: how long a client INVITE may stay in Proceeding (counted from the first 1xx)
    /// without a final response before [`TimeoutCause::TimerC`]. Default 180 s. (RFC 3261 has
    /// no limit for a UA; a camera that says 100 Trying and nothing else must not hang a call.)
    pub timer_c: Duration,
    /// How long a server non-INVITE transaction waits for the application's final response
    /// before it is dropped with [`TimeoutCause::NoFinalResponse`]. Default 64*T1.
    pub non_invite_answer_within: Duration,
    /// Same for server INVITE transactions (the application may ring for a while). Default 180 s.
    pub invite_answer_within: Duration,
}

impl Config {
    pub fn new(timers: Timers) -> Config {
        let timers = timers.sanitized();
        Config {
            timers,
            max_server_transactions: 10_000,
            trying_after: Some(Duration::from_millis(200)),
            timer_c: Duration::from_secs(180),
            non_invite_answer_within: timers.t1_x64(),
            invite_answer_within: Duration::from_secs(180),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new(Timers::default())
    }
}

/// Identifies one transaction in events and calls. Never reused by a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionKey(u64);

impl TransactionKey {
    /// The layer-local number, for logs and metrics.
    pub fn id(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx#{}", self.0)
    }
}

/// Bytes to send to `to`. Retransmissions are the same bytes (the same `Bytes` buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<R> {
    pub to: R,
    pub data: Bytes,
    /// The transaction that sent it; `None` for [`TransactionLayer::send_stateless`]. Report a
    /// failed send with [`TransactionLayer::transport_error`].
    pub key: Option<TransactionKey>,
}

/// Why a transaction gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutCause {
    /// Client INVITE: no response at all within 64*T1.
    TimerB,
    /// Client INVITE: provisional response but no final within [`Config::timer_c`].
    TimerC,
    /// Client INVITE: cancelled ([`TransactionLayer::cancel`]), and no final response within
    /// 64*T1 of the CANCEL (RFC 3261 §9.1).
    Cancelled,
    /// Client non-INVITE: no final response within 64*T1.
    TimerF,
    /// Server INVITE: no ACK for our 300-699 response within 64*T1.
    TimerH,
    /// Server INVITE: no ACK for our 2xx within 64*T1 (§13.3.1.4: the application should BYE).
    TimerL,
    /// Server: the application never sent a final response (see [`Config`]); the layer drops the
    /// transaction so it cannot leak.
    NoFinalResponse,
}

/// What the layer tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent<R> {
    /// A new request (not a retransmission, not ACK or CANCEL). Answer with
    /// [`TransactionLayer::send_response`].
    NewRequest {
        key: TransactionKey,
        request: Request,
        from: R,
    },
    /// A CANCEL. It has its own transaction `key`: answer it 200, or 481 when `invite` is
    /// `None` (§9.2). Then answer the INVITE `invite` with 487; if it already has a final
    /// response, [`TxError::FinalResponseSent`] says so and the CANCEL had no effect.
    Cancel {
        key: TransactionKey,
        request: Request,
        from: R,
        invite: Option<TransactionKey>,
    },
    /// An ACK for a 2xx (it belongs to a dialog, §13.2.2.4), or an ACK that matched nothing.
    /// `invite` is our server INVITE transaction whose 2xx it acknowledges, when known; its 2xx
    /// retransmissions stop.
    Ack {
        request: Request,
        from: R,
        invite: Option<TransactionKey>,
    },
    /// A response on one of our client transactions. For INVITE, every 2xx (retransmissions and
    /// forks included) comes here while the transaction lives: ACK each through the dialog.
    Response {
        key: TransactionKey,
        response: Response,
    },
    /// A response that matched no client transaction: a late 2xx retransmission (re-ACK it if
    /// it belongs to a dialog) or noise to log.
    StrayResponse { response: Response, from: R },
    /// The transaction timed out; a [`TxEvent::Terminated`] follows.
    Timeout {
        key: TransactionKey,
        cause: TimeoutCause,
    },
    /// The application reported a failed send; a [`TxEvent::Terminated`] follows.
    TransportError { key: TransactionKey },
    /// The transaction is gone; its key is no longer valid.
    Terminated { key: TransactionKey },
    /// A new request arrived while [`Config::max_server_transactions`] are live; no transaction
    /// was created. Answer 503 statelessly (or drop it).
    Overloaded { request: Request, from: R },
    /// A request whose Via, CSeq, From or Call-ID cannot be read, or whose CSeq method differs
    /// from the request line; no transaction was created. Answer 400 statelessly if you can.
    BadRequest {
        request: Request,
        from: R,
        error: HeaderError,
    },
}

/// A call the layer refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("no live transaction {0}")]
    UnknownTransaction(TransactionKey),
    #[error("{0} is a client transaction")]
    NotServerTransaction(TransactionKey),
    #[error("{0} already sent a final response")]
    FinalResponseSent(TransactionKey),
    #[error("{0} is not an INVITE we sent that still awaits its final response")]
    NotCancellable(TransactionKey),
    #[error("ACK has no transaction: send it with send_stateless")]
    AckHasNoTransaction,
    #[error("the top Via needs a branch starting with z9hG4bK")]
    NoRfc3261Branch,
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    #[error("a client transaction with this branch and method is live")]
    DuplicateBranch,
    #[error("a response needs a status of 100..=699")]
    BadStatus,
    #[error(transparent)]
    Header(#[from] HeaderError),
}
