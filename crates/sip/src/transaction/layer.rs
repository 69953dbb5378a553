//! The transaction layer: owns every live transaction, routes messages, timers and application
//! calls to them, and queues what they send and report.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use super::key::{self, AckKey, MatchKey};
use super::machine::{Cancel, Ctx, Flow, Kind, State, Transaction};
use super::timer::TimerTable;
use super::{Config, Timers, TransactionKey, Transmit, TxError, TxEvent, cancel_for};
use crate::error::HeaderError;
use crate::header::{CSeq, Via};
use crate::message::{Message, Request, Response};
use crate::method::Method;

/// A [`Ctx`] borrowing the layer's output fields, leaving `txs` free for the transaction.
macro_rules! ctx {
    ($layer:ident, $now:expr, $id:expr) => {
        Ctx {
            now: $now,
            id: $id,
            config: &$layer.config,
            timers: &mut $layer.timers,
            transmits: &mut $layer.transmits,
            events: &mut $layer.events,
        }
    };
}

/// All SIP transactions of one endpoint. `R` is the caller's opaque route to a peer (address,
/// transport, connection id); the layer only stores and returns it.
///
/// Drive it from one task: after every `handle_*`/`send_*` call, drain [`Self::poll_transmit`]
/// and [`Self::poll_event`], then sleep until [`Self::poll_timeout`] and call
/// [`Self::handle_timeout`].
#[derive(Debug)]
pub struct TransactionLayer<R> {
    config: Config,
    next_id: u64,
    /// Boxed: the table's spare capacity then costs a pointer per slot, not a transaction.
    txs: HashMap<u64, Box<Transaction<R>>>,
    /// How requests and responses find their transaction. A transaction has one entry.
    index: HashMap<MatchKey, u64>,
    /// Server INVITE transactions that sent a 2xx, found by the ACK for it.
    acks: HashMap<AckKey, u64>,
    timers: TimerTable,
    server_count: usize,
    transmits: VecDeque<Transmit<R>>,
    events: VecDeque<TxEvent<R>>,
}

impl<R: Clone> TransactionLayer<R> {
    pub fn new(timers: Timers) -> Self {
        Self::with_config(Config::new(timers))
    }

    pub fn with_config(mut config: Config) -> Self {
        config.timers = config.timers.sanitized();
        TransactionLayer {
            config,
            next_id: 1,
            txs: HashMap::new(),
            index: HashMap::new(),
            acks: HashMap::new(),
            timers: TimerTable::default(),
            server_count: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Live transactions, client and server.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Live server transactions (the ones [`Config::max_server_transactions`] caps).
    pub fn server_len(&self) -> usize {
        self.server_count
    }

    /// Is `key` still live?
    pub fn contains(&self, key: TransactionKey) -> bool {
        self.txs.contains_key(&key.0)
    }

    /// A message from the network. `from` is where it came from (responses of a server
    /// transaction go there unless [`Self::set_route`] changes it); `reliable` is true for TCP
    /// (no retransmissions, zero linger timers).
    pub fn handle_message(&mut self, now: Instant, msg: Message, from: R, reliable: bool) {
        match msg {
            Message::Request(req) => self.handle_request(now, req, from, reliable),
            Message::Response(resp) => self.handle_response(now, resp, from),
        }
    }

    /// Start a client transaction for `req`, whose top Via must carry a fresh `z9hG4bK` branch
    /// (see [`crate::ids::new_branch`]). The request goes to `to` at once.
    pub fn send_request(
        &mut self,
        now: Instant,
        req: Request,
        to: R,
        reliable: bool,
    ) -> Result<TransactionKey, TxError> {
        if req.method == Method::Ack {
            return Err(TxError::AckHasNoTransaction);
        }
        let via = req.headers.top_via()?;
        if !via.has_rfc3261_branch() {
            return Err(TxError::NoRfc3261Branch);
        }
        if req.headers.cseq()?.method != req.method {
            return Err(TxError::CSeqMethodMismatch);
        }
        let match_key = key::client_key(&via, &req.method).ok_or(TxError::NoRfc3261Branch)?;
        if self.index.contains_key(&match_key) {
            return Err(TxError::DuplicateBranch);
        }
        let kind = if req.method == Method::Invite {
            Kind::InviteClient
        } else {
            Kind::NonInviteClient
        };
        let state = if kind == Kind::InviteClient {
            State::Calling
        } else {
            State::Trying
        };
        let data = Bytes::from(req.to_bytes());
        let id = self.alloc_id();
        // Only an INVITE needs its request again (ACK for a non-2xx, CANCEL).
        let req = (kind == Kind::InviteClient).then(|| Box::new(req));
        let mut tx = Transaction::new(kind, state, to, reliable, req);
        let mut ctx = ctx!(self, now, id);
        tx.start_client(&mut ctx, data);
        tx.match_key = Some(match_key.clone());
        self.txs.insert(id, Box::new(tx));
        self.index.insert(match_key, id);
        Ok(TransactionKey(id))
    }

    /// Answer the server transaction `key`. Provisional responses may be repeated; one final
    /// response is allowed (a 2xx to an INVITE may be sent again, e.g. with a new body).
    ///
    /// Retransmission is the layer's job: a non-2xx to INVITE on Timer G over UDP, and a 2xx
    /// to INVITE from T1 doubling to T2 until its ACK arrives, over any transport (§13.3.1.4,
    /// formally the UAS core's duty), ending with [`super::TimeoutCause::TimerL`] without ACK.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: TransactionKey,
        resp: Response,
    ) -> Result<(), TxError> {
        if !(100..=699).contains(&resp.status.code()) {
            return Err(TxError::BadStatus);
        }
        let id = key.0;
        let tx = self
            .txs
            .get_mut(&id)
            .ok_or(TxError::UnknownTransaction(key))?;
        if !tx.kind.is_server() {
            return Err(TxError::NotServerTransaction(key));
        }
        let mut ctx = ctx!(self, now, id);
        let flow = tx.respond(&mut ctx, &resp)?;
        // The final response is the request's last use: a 2xx's ACK is found by its dialog
        // fields, taken now; a completed transaction keeps only its response bytes.
        if tx.kind == Kind::InviteServer
            && resp.status.is_final()
            && let Some(request) = tx.request.take()
            && tx.state == State::Accepted
            && let Ok(ack_key) = request
                .headers
                .cseq()
                .and_then(|c| AckKey::of(&request, c.seq))
        {
            self.acks.insert(ack_key.clone(), id);
            tx.ack_key = Some(Box::new(ack_key));
        }
        if flow == Flow::Terminate {
            self.terminate(id);
        }
        Ok(())
    }

    /// Cancel `key`, an INVITE we sent that has no final response yet (RFC 3261 §9.1). The
    /// CANCEL, a client transaction of its own with the INVITE's branch, goes out now if the
    /// INVITE had a provisional response, else with the first one (never before: the callee
    /// may not have the INVITE yet). The INVITE then ends with its final response as usual:
    /// normally 487, which the layer ACKs; a 2xx that crossed the CANCEL is passed up like any
    /// (ACK and BYE it); with none, 64*T1 after the CANCEL ([`super::TimeoutCause::Cancelled`]).
    /// The CANCEL's own events carry a key the caller never saw and may ignore. Cancelling
    /// twice is harmless.
    pub fn cancel(&mut self, now: Instant, key: TransactionKey) -> Result<(), TxError> {
        let tx = self
            .txs
            .get_mut(&key.0)
            .ok_or(TxError::UnknownTransaction(key))?;
        if tx.kind != Kind::InviteClient || !matches!(tx.state, State::Calling | State::Proceeding)
        {
            return Err(TxError::NotCancellable(key));
        }
        if tx.cancel == Cancel::No {
            tx.cancel = Cancel::Wanted;
            if tx.state == State::Proceeding {
                self.send_cancel(now, key.0);
            }
        }
        Ok(())
    }

    /// The live client transaction that sent `req` (matched by its top Via branch and method),
    /// e.g. to [`Self::cancel`] it.
    pub fn client_transaction(&self, req: &Request) -> Option<TransactionKey> {
        let via = req.headers.top_via().ok()?;
        let k = key::client_key(&via, &req.method)?;
        let id = *self.index.get(&k)?;
        self.txs
            .get(&id)
            .filter(|t| !t.kind.is_server())
            .map(|_| TransactionKey(id))
    }

    /// Send a message outside any transaction: an ACK for a 2xx, a re-ACK for a retransmitted
    /// 2xx, a 503 for [`TxEvent::Overloaded`], a 400 for [`TxEvent::BadRequest`].
    pub fn send_stateless(&mut self, to: R, msg: impl Into<Message>) {
        self.transmits.push_back(Transmit {
            to,
            data: Bytes::from(msg.into().to_bytes()),
            key: None,
        });
    }

    /// Send the responses of server transaction `key` to `to` from now on (e.g. the RFC 3581
    /// address from [`crate::routing::response_address`]).
    pub fn set_route(&mut self, key: TransactionKey, to: R) -> Result<(), TxError> {
        let tx = self
            .txs
            .get_mut(&key.0)
            .ok_or(TxError::UnknownTransaction(key))?;
        tx.route = to;
        Ok(())
    }

    /// The transport could not send for `key` (e.g. the TCP connection is gone, §17.1.4): the
    /// transaction ends with [`TxEvent::TransportError`].
    pub fn transport_error(&mut self, key: TransactionKey) {
        if self.txs.contains_key(&key.0) {
            self.events.push_back(TxEvent::TransportError { key });
            self.terminate(key.0);
        }
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (at, id, slot) in self.timers.due(now) {
            let Some(tx) = self.txs.get_mut(&id) else {
                continue;
            };
            // An earlier timer in this batch may have moved or cancelled this one.
            if tx.timers[slot as usize] != Some(at) {
                continue;
            }
            self.timers.cancel(id, &mut tx.timers, slot);
            let mut ctx = ctx!(self, now, id);
            if tx.on_timer(&mut ctx, slot) == Flow::Terminate {
                self.terminate(id);
            }
        }
    }

    /// The earliest armed deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit<R>> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent<R>> {
        self.events.pop_front()
    }

    // ---- inputs ---------------------------------------------------------------------------

    fn handle_response(&mut self, now: Instant, response: Response, from: R) {
        let id = key::response_key(&response).and_then(|k| self.index.get(&k).copied());
        let Some((id, tx)) = id.and_then(|id| Some((id, self.txs.get_mut(&id)?))) else {
            self.events
                .push_back(TxEvent::StrayResponse { response, from });
            return;
        };
        let mut ctx = ctx!(self, now, id);
        let flow = tx.client_response(&mut ctx, response);
        let cancel_now = tx.cancel == Cancel::Wanted && tx.state == State::Proceeding;
        if flow == Flow::Terminate {
            self.terminate(id);
        } else if cancel_now {
            self.send_cancel(now, id);
        }
    }

    /// Sends the CANCEL of client INVITE `id`, which has had a provisional response.
    fn send_cancel(&mut self, now: Instant, id: u64) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        // The INVITE was validated when it was sent, so its CANCEL can be built and sent.
        let Some(cancel) = tx.request.as_deref().and_then(|r| cancel_for(r).ok()) else {
            return;
        };
        let (route, reliable) = (tx.route.clone(), tx.reliable);
        let mut ctx = ctx!(self, now, id);
        tx.cancel_sent(&mut ctx);
        if let Err(e) = self.send_request(now, cancel, route, reliable) {
            debug_assert!(false, "CANCEL of a valid INVITE refused: {e}");
        }
    }

    fn handle_request(&mut self, now: Instant, request: Request, from: R, reliable: bool) {
        let (via, cseq, match_key) = match Self::read_request(&request) {
            Ok(v) => v,
            Err(error) => {
                self.events.push_back(TxEvent::BadRequest {
                    request,
                    from,
                    error,
                });
                return;
            }
        };
        // The To tag matters to RFC 2543 matching and to an ACK for a 2xx; reading it costs a
        // full parse of To, so other requests skip it.
        let to_tag = if match_key.is_rfc2543() || request.method == Method::Ack {
            key::to_tag(&request.headers)
        } else {
            None
        };
        if request.method == Method::Ack {
            self.handle_ack(now, request, from, &match_key, to_tag, cseq.seq);
            return;
        }
        if let Some(id) = self.lookup(&match_key, to_tag.as_deref(), false) {
            if let Some(tx) = self.txs.get_mut(&id) {
                let mut ctx = ctx!(self, now, id);
                tx.retransmitted_request(&mut ctx);
            }
            return;
        }
        if self.server_count >= self.config.max_server_transactions {
            self.events.push_back(TxEvent::Overloaded { request, from });
            return;
        }
        let cancelled = if request.method == Method::Cancel {
            key::server_key(&request, &via, &cseq, Method::Invite)
                .ok()
                .and_then(|k| {
                    let tag = if k.is_rfc2543() {
                        key::to_tag(&request.headers)
                    } else {
                        None
                    };
                    self.lookup(&k, tag.as_deref(), false)
                })
                .map(TransactionKey)
        } else {
            None
        };
        let kind = if request.method == Method::Invite {
            Kind::InviteServer
        } else {
            Kind::NonInviteServer
        };
        let state = if kind == Kind::InviteServer {
            State::Proceeding
        } else {
            State::Trying
        };
        let id = self.alloc_id();
        let key = TransactionKey(id);
        // A server INVITE needs its request until its final response (100 Trying, the ACK
        // key); a non-INVITE one never does.
        let copy = (kind == Kind::InviteServer).then(|| Box::new(request.clone()));
        let mut tx = Transaction::new(kind, state, from.clone(), reliable, copy);
        tx.request_to_tag = to_tag;
        let mut ctx = ctx!(self, now, id);
        tx.start_server(&mut ctx);
        tx.match_key = Some(match_key.clone());
        self.txs.insert(id, Box::new(tx));
        self.index.insert(match_key, id);
        self.server_count += 1;
        self.events.push_back(if request.method == Method::Cancel {
            TxEvent::Cancel {
                key,
                request,
                from,
                invite: cancelled,
            }
        } else {
            TxEvent::NewRequest { key, request, from }
        });
    }

    /// Top Via, CSeq and the server match key; an unusable request is an error.
    fn read_request(req: &Request) -> Result<(Via, CSeq, MatchKey), HeaderError> {
        let via = req.headers.top_via()?;
        let cseq = req.headers.cseq()?;
        if cseq.method != req.method {
            return Err(HeaderError::new(
                "CSeq",
                "method does not match the request line",
                0,
            ));
        }
        let match_key = key::server_key(req, &via, &cseq, key::match_method(&req.method))?;
        Ok((via, cseq, match_key))
    }

    /// The live server transaction for `k`. RFC 2543 keys also compare the To tag: with the
    /// request's for a retransmission, with our response's for an ACK.
    fn lookup(&self, k: &MatchKey, to_tag: Option<&str>, ack: bool) -> Option<u64> {
        let id = *self.index.get(k)?;
        let tx = self.txs.get(&id)?;
        if k.is_rfc2543() {
            let want = if ack {
                tx.response_to_tag.as_deref()
            } else {
                tx.request_to_tag.as_deref()
            };
            if want != to_tag {
                return None;
            }
        }
        Some(id)
    }

    fn handle_ack(
        &mut self,
        now: Instant,
        request: Request,
        from: R,
        match_key: &MatchKey,
        to_tag: Option<Box<str>>,
        cseq: u32,
    ) {
        let found = self
            .lookup(match_key, to_tag.as_deref(), true)
            .filter(|id| {
                self.txs
                    .get(id)
                    .is_some_and(|t| t.kind == Kind::InviteServer)
            });
        if let Some(id) = found {
            if let Some(tx) = self.txs.get_mut(&id) {
                let mut ctx = ctx!(self, now, id);
                if tx.ack(&mut ctx, request, from) == Flow::Terminate {
                    self.terminate(id);
                }
            }
            return;
        }
        // An ACK for a 2xx has a branch of its own; find the INVITE by dialog and CSeq.
        let by_dialog = AckKey::of(&request, cseq)
            .ok()
            .and_then(|k| self.acks.get(&k).copied())
            .filter(|id| {
                self.txs
                    .get(id)
                    .is_some_and(|t| t.response_to_tag == to_tag)
            });
        match by_dialog.and_then(|id| Some((id, self.txs.get_mut(&id)?))) {
            Some((id, tx)) => {
                let mut ctx = ctx!(self, now, id);
                tx.ack_2xx(&mut ctx, request, from);
            }
            None => self.events.push_back(TxEvent::Ack {
                request,
                from,
                invite: None,
            }),
        }
    }

    // ---- bookkeeping ----------------------------------------------------------------------

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn terminate(&mut self, id: u64) {
        let Some(mut tx) = self.txs.remove(&id) else {
            return;
        };
        self.timers.cancel_all(id, &mut tx.timers);
        // Remove our entries only: a newer transaction may have taken the key over.
        if let Some(k) = tx.match_key.take()
            && self.index.get(&k) == Some(&id)
        {
            self.index.remove(&k);
        }
        if let Some(k) = tx.ack_key.take()
            && self.acks.get(&*k) == Some(&id)
        {
            self.acks.remove(&*k);
        }
        if tx.kind.is_server() {
            self.server_count -= 1;
        }
        self.events.push_back(TxEvent::Terminated {
            key: TransactionKey(id),
        });
    }
}
