//! The four transaction state machines (RFC 3261 Figures 5-8, RFC 6026 Figures 5 and 7). Each
//! input returns whether the transaction lives on; the layer does the bookkeeping of removal.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::build::ack_for_non_2xx;
use super::key::{AckKey, MatchKey};
use super::timer::{Armed, Slot, TimerTable};
use super::{Config, TimeoutCause, TransactionKey, Transmit, TxEvent};
use crate::message::{Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    InviteClient,
    NonInviteClient,
    InviteServer,
    NonInviteServer,
}

impl Kind {
    pub(super) fn is_server(self) -> bool {
        matches!(self, Kind::InviteServer | Kind::NonInviteServer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Client INVITE before any response.
    Calling,
    /// Client non-INVITE before any response; server non-INVITE before the first response.
    Trying,
    Proceeding,
    Completed,
    /// Server INVITE after the ACK for a non-2xx.
    Confirmed,
    /// INVITE after a 2xx (RFC 6026): absorbs INVITE retransmissions (server) and passes every
    /// 2xx up (client).
    Accepted,
}

/// Where a client INVITE stands with its CANCEL (RFC 3261 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Cancel {
    #[default]
    No,
    /// Asked for before any provisional response: goes out with the first one.
    Wanted,
    Sent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Keep,
    Terminate,
}

/// Where a transition writes its outputs.
pub(super) struct Ctx<'a, R> {
    pub now: Instant,
    pub id: u64,
    pub config: &'a Config,
    pub timers: &'a mut TimerTable,
    pub transmits: &'a mut VecDeque<Transmit<R>>,
    pub events: &'a mut VecDeque<TxEvent<R>>,
}

impl<R> Ctx<'_, R> {
    fn key(&self) -> TransactionKey {
        TransactionKey(self.id)
    }
}

/// One transaction. It keeps only what its remaining duties need: a completed non-INVITE
/// server transaction (the bulk of a busy registrar's table, kept 64*T1 for Timer J) holds its
/// response bytes, route and match key, not the request.
#[derive(Debug)]
pub(super) struct Transaction<R> {
    pub kind: Kind,
    pub state: State,
    /// Where our messages go; the peer the request came from, for a server transaction.
    pub route: R,
    pub reliable: bool,
    /// The parsed request, only while something still needs it: a client INVITE builds its ACK
    /// for a non-2xx and its CANCEL from it; a server INVITE its 100 Trying and the key its
    /// 2xx's ACK is found by, so it drops it at its final response. Non-INVITE: never kept.
    pub request: Option<Box<Request>>,
    /// Client: the request as sent, retransmitted byte for byte.
    pub request_bytes: Bytes,
    /// Server: the last response sent. Client INVITE: the ACK for a non-2xx final response.
    pub last: Option<Bytes>,
    /// Server matched by RFC 2543 fields: To tag of the request (retransmission check).
    pub request_to_tag: Option<Box<str>>,
    /// Server INVITE, or matched by RFC 2543 fields: To tag of our last response (ACK check).
    pub response_to_tag: Option<Box<str>>,
    /// Current retransmission interval.
    pub interval: Duration,
    pub timers: Armed,
    /// Server INVITE in Accepted: an ACK for the 2xx arrived.
    pub acked: bool,
    /// Client INVITE: whether the application cancelled it.
    pub cancel: Cancel,
    /// The layer's index entries for this transaction, removed when it ends.
    pub match_key: Option<MatchKey>,
    pub ack_key: Option<Box<AckKey>>,
}

impl<R: Clone> Transaction<R> {
    pub(super) fn new(
        kind: Kind,
        state: State,
        route: R,
        reliable: bool,
        request: Option<Box<Request>>,
    ) -> Self {
        Transaction {
            kind,
            state,
            route,
            reliable,
            request,
            request_bytes: Bytes::new(),
            last: None,
            request_to_tag: None,
            response_to_tag: None,
            interval: Duration::ZERO,
            timers: [None; super::timer::SLOTS],
            acked: false,
            cancel: Cancel::No,
            match_key: None,
            ack_key: None,
        }
    }

    fn arm(&mut self, ctx: &mut Ctx<'_, R>, slot: Slot, after: Duration) {
        ctx.timers
            .set(ctx.id, &mut self.timers, slot, ctx.now + after);
    }

    fn disarm(&mut self, ctx: &mut Ctx<'_, R>, slot: Slot) {
        ctx.timers.cancel(ctx.id, &mut self.timers, slot);
    }

    fn send(&self, ctx: &mut Ctx<'_, R>, data: Bytes) {
        ctx.transmits.push_back(Transmit {
            to: self.route.clone(),
            data,
            key: Some(ctx.key()),
        });
    }

    /// Linger for `d` to absorb retransmissions, or end now when `d` is zero (reliable transport).
    fn linger(&mut self, ctx: &mut Ctx<'_, R>, d: Duration) -> Flow {
        self.disarm(ctx, Slot::Retransmit);
        self.disarm(ctx, Slot::Timeout);
        self.disarm(ctx, Slot::Trying);
        if d.is_zero() {
            return Flow::Terminate;
        }
        self.arm(ctx, Slot::Linger, d);
        Flow::Keep
    }

    fn unless_reliable(&self, d: Duration) -> Duration {
        if self.reliable { Duration::ZERO } else { d }
    }

    fn timeout(ctx: &mut Ctx<'_, R>, cause: TimeoutCause) -> Flow {
        ctx.events.push_back(TxEvent::Timeout {
            key: ctx.key(),
            cause,
        });
        Flow::Terminate
    }

    // ---- client ---------------------------------------------------------------------------

    /// Send the request and arm A/B (INVITE) or E/F (non-INVITE); over a reliable transport
    /// there is no A or E (§17.1.1.2, §17.1.2.2).
    pub(super) fn start_client(&mut self, ctx: &mut Ctx<'_, R>, data: Bytes) {
        let t = ctx.config.timers;
        self.request_bytes = data.clone();
        self.send(ctx, data);
        if !self.reliable {
            self.interval = t.t1;
            self.arm(ctx, Slot::Retransmit, t.t1);
        }
        self.arm(ctx, Slot::Timeout, t.t1_x64());
    }

    pub(super) fn client_response(&mut self, ctx: &mut Ctx<'_, R>, resp: Response) -> Flow {
        match self.kind {
            Kind::InviteClient => self.client_invite_response(ctx, resp),
            _ => self.client_non_invite_response(ctx, resp),
        }
    }

    /// The CANCEL of this client INVITE went out: without a final response within 64*T1 the
    /// INVITE is given up (§9.1), sooner than Timer C would.
    pub(super) fn cancel_sent(&mut self, ctx: &mut Ctx<'_, R>) {
        self.cancel = Cancel::Sent;
        self.arm(ctx, Slot::Timeout, ctx.config.timers.t1_x64());
    }

    fn pass_up(ctx: &mut Ctx<'_, R>, response: Response) {
        ctx.events.push_back(TxEvent::Response {
            key: ctx.key(),
            response,
        });
    }

    fn client_invite_response(&mut self, ctx: &mut Ctx<'_, R>, resp: Response) -> Flow {
        let status = resp.status;
        match self.state {
            State::Calling | State::Proceeding => {
                if status.is_provisional() {
                    if self.state == State::Calling {
                        self.state = State::Proceeding;
                        self.disarm(ctx, Slot::Retransmit);
                        self.disarm(ctx, Slot::Timeout);
                        self.arm(ctx, Slot::Timeout, ctx.config.timer_c);
                    }
                    Self::pass_up(ctx, resp);
                    Flow::Keep
                } else if status.is_success() {
                    self.state = State::Accepted;
                    Self::pass_up(ctx, resp);
                    // Timer M: stay to pass retransmitted and forked 2xx up (RFC 6026 §8.4).
                    self.linger(ctx, ctx.config.timers.t1_x64())
                } else {
                    self.state = State::Completed;
                    // The request was validated when it was sent, so the ACK can be built.
                    if let Some(Ok(ack)) = self.request.as_ref().map(|r| ack_for_non_2xx(r, &resp))
                    {
                        let ack = Bytes::from(ack.to_bytes());
                        self.last = Some(ack.clone());
                        self.send(ctx, ack);
                    }
                    Self::pass_up(ctx, resp);
                    let d = self.unless_reliable(ctx.config.timers.timer_d());
                    self.linger(ctx, d)
                }
            }
            State::Completed => {
                // A retransmitted final response: our ACK was lost (§17.1.1.2).
                if status.is_final()
                    && !status.is_success()
                    && let Some(ack) = self.last.clone()
                {
                    self.send(ctx, ack);
                }
                Flow::Keep
            }
            State::Accepted => {
                if status.is_success() {
                    Self::pass_up(ctx, resp);
                }
                Flow::Keep
            }
            State::Trying | State::Confirmed => Flow::Keep,
        }
    }

    fn client_non_invite_response(&mut self, ctx: &mut Ctx<'_, R>, resp: Response) -> Flow {
        match self.state {
            State::Trying | State::Proceeding => {
                if resp.status.is_provisional() {
                    self.state = State::Proceeding;
                    Self::pass_up(ctx, resp);
                    Flow::Keep
                } else {
                    self.state = State::Completed;
                    Self::pass_up(ctx, resp);
                    let d = self.unless_reliable(ctx.config.timers.t4);
                    self.linger(ctx, d)
                }
            }
            // Completed absorbs retransmitted finals (Timer K).
            _ => Flow::Keep,
        }
    }

    // ---- server ---------------------------------------------------------------------------

    /// A new server transaction: arm the wait for the application's answer and, for INVITE,
    /// the 100 Trying (§17.2.1).
    pub(super) fn start_server(&mut self, ctx: &mut Ctx<'_, R>) {
        let c = ctx.config;
        if self.kind == Kind::InviteServer {
            if let Some(d) = c.trying_after {
                self.arm(ctx, Slot::Trying, d);
            }
            self.arm(ctx, Slot::Timeout, c.invite_answer_within);
        } else {
            self.arm(ctx, Slot::Timeout, c.non_invite_answer_within);
        }
    }

    /// A retransmission of the request that created this transaction.
    pub(super) fn retransmitted_request(&mut self, ctx: &mut Ctx<'_, R>) -> Flow {
        let resend = match self.state {
            // Trying (no response yet), Confirmed and Accepted absorb it silently.
            State::Proceeding | State::Completed => self.last.clone(),
            _ => None,
        };
        if let Some(data) = resend {
            self.send(ctx, data);
        }
        Flow::Keep
    }

    /// The application answers. The caller checked that this is a server transaction.
    pub(super) fn respond(
        &mut self,
        ctx: &mut Ctx<'_, R>,
        resp: &Response,
    ) -> Result<Flow, super::TxError> {
        let key = ctx.key();
        let status = resp.status;
        let final_sent = matches!(self.state, State::Completed | State::Confirmed)
            || (self.state == State::Accepted && !status.is_success());
        if final_sent {
            return Err(super::TxError::FinalResponseSent(key));
        }
        let data = print(resp);
        self.last = Some(data.clone());
        if self.kind == Kind::InviteServer
            || self.match_key.as_ref().is_some_and(|k| k.is_rfc2543())
        {
            self.response_to_tag = super::key::to_tag(&resp.headers);
        }
        self.send(ctx, data);
        let t = ctx.config.timers;
        if status.is_provisional() {
            self.disarm(ctx, Slot::Trying);
            if self.state == State::Trying {
                self.state = State::Proceeding;
            }
            return Ok(Flow::Keep);
        }
        if self.kind == Kind::NonInviteServer {
            self.state = State::Completed;
            let d = self.unless_reliable(t.t1_x64());
            return Ok(self.linger(ctx, d)); // Timer J
        }
        if status.is_success() {
            if self.state == State::Accepted {
                // The application retransmits its 2xx itself; the schedule goes on.
                return Ok(Flow::Keep);
            }
            // §13.3.1.4: retransmit the 2xx, over any transport, until the ACK; Timer L.
            self.state = State::Accepted;
            self.linger(ctx, t.t1_x64());
            self.interval = t.t1;
            self.arm(ctx, Slot::Retransmit, t.t1);
            return Ok(Flow::Keep);
        }
        self.state = State::Completed;
        self.disarm(ctx, Slot::Trying);
        self.disarm(ctx, Slot::Timeout);
        if !self.reliable {
            self.interval = t.t1;
            self.arm(ctx, Slot::Retransmit, t.t1); // Timer G
        }
        self.arm(ctx, Slot::Timeout, t.t1_x64()); // Timer H
        Ok(Flow::Keep)
    }

    /// An ACK that matched this server INVITE transaction by branch (or RFC 2543 fields).
    pub(super) fn ack(&mut self, ctx: &mut Ctx<'_, R>, request: Request, from: R) -> Flow {
        match self.state {
            State::Completed => {
                self.state = State::Confirmed;
                let d = self.unless_reliable(ctx.config.timers.t4);
                self.linger(ctx, d) // Timer I
            }
            State::Confirmed => Flow::Keep,
            State::Accepted => {
                self.ack_2xx(ctx, request, from);
                Flow::Keep
            }
            _ => {
                ctx.events.push_back(TxEvent::Ack {
                    request,
                    from,
                    invite: None,
                });
                Flow::Keep
            }
        }
    }

    /// An ACK for our 2xx: stop retransmitting it and pass the ACK up.
    pub(super) fn ack_2xx(&mut self, ctx: &mut Ctx<'_, R>, request: Request, from: R) {
        self.acked = true;
        self.disarm(ctx, Slot::Retransmit);
        ctx.events.push_back(TxEvent::Ack {
            request,
            from,
            invite: Some(ctx.key()),
        });
    }

    // ---- timers ---------------------------------------------------------------------------

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, R>, slot: Slot) -> Flow {
        let t = ctx.config.timers;
        match (self.kind, self.state, slot) {
            (_, _, Slot::Linger) => {
                if self.kind == Kind::InviteServer && self.state == State::Accepted && !self.acked {
                    return Self::timeout(ctx, TimeoutCause::TimerL);
                }
                Flow::Terminate // D, I, J, K, L, M
            }
            (Kind::InviteClient, State::Calling, Slot::Retransmit) => {
                // Timer A doubles without a cap; Timer B ends it.
                self.interval = self.interval.saturating_mul(2);
                self.resend_request(ctx)
            }
            (Kind::InviteClient, State::Calling, Slot::Timeout) => {
                Self::timeout(ctx, TimeoutCause::TimerB)
            }
            (Kind::InviteClient, State::Proceeding, Slot::Timeout) => {
                let cause = if self.cancel == Cancel::Sent {
                    TimeoutCause::Cancelled
                } else {
                    TimeoutCause::TimerC
                };
                Self::timeout(ctx, cause)
            }
            (Kind::NonInviteClient, State::Trying, Slot::Retransmit) => {
                self.interval = self.interval.saturating_mul(2).min(t.t2);
                self.resend_request(ctx)
            }
            (Kind::NonInviteClient, State::Proceeding, Slot::Retransmit) => {
                self.interval = t.t2;
                self.resend_request(ctx)
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding, Slot::Timeout) => {
                Self::timeout(ctx, TimeoutCause::TimerF)
            }
            (Kind::InviteServer, State::Proceeding, Slot::Trying) => {
                if self.last.is_none()
                    && let Some(request) = &self.request
                {
                    let trying = Response::for_request(request, 100, "");
                    let data = print(&trying);
                    self.last = Some(data.clone());
                    self.send(ctx, data);
                }
                Flow::Keep
            }
            (Kind::InviteServer, State::Completed, Slot::Retransmit)
            | (Kind::InviteServer, State::Accepted, Slot::Retransmit) => {
                // Timer G, or the 2xx schedule of §13.3.1.4: both double up to T2.
                if let Some(data) = self.last.clone() {
                    self.send(ctx, data);
                }
                self.interval = self.interval.saturating_mul(2).min(t.t2);
                self.arm(ctx, Slot::Retransmit, self.interval);
                Flow::Keep
            }
            (Kind::InviteServer, State::Completed, Slot::Timeout) => {
                Self::timeout(ctx, TimeoutCause::TimerH)
            }
            (Kind::InviteServer | Kind::NonInviteServer, _, Slot::Timeout) => {
                Self::timeout(ctx, TimeoutCause::NoFinalResponse)
            }
            // A timer of a state the transaction has left; transitions disarm, so this is only
            // a safety net.
            _ => Flow::Keep,
        }
    }

    fn resend_request(&mut self, ctx: &mut Ctx<'_, R>) -> Flow {
        self.send(ctx, self.request_bytes.clone());
        self.arm(ctx, Slot::Retransmit, self.interval);
        Flow::Keep
    }
}

/// `resp` printed into a buffer of about its size: a completed transaction keeps these bytes
/// for 64*T1, so slack would cost memory per transaction.
pub(super) fn print(resp: &Response) -> Bytes {
    let headers: usize = resp
        .headers
        .iter()
        .map(|h| h.name.as_str().len() + h.value.len() + 4)
        .sum();
    // Status line, Content-Length (written when absent), the blank line.
    let size = 16 + resp.reason.len() + headers + 24 + 2 + resp.body.len();
    let mut out = Vec::with_capacity(size);
    resp.write_to(&mut out);
    Bytes::from(out)
}
