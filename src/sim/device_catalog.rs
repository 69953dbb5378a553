//! The catalog side of a simulated device: catalog answers (with test hooks to lose
//! packets or stay silent), a catalog subscription (SUBSCRIBE with `Event: Catalog`,
//! refreshes inside its dialog, `Expires: 0` to end it) and the notifications a change
//! sends: NOTIFY in the subscription's dialog, or a `Notify/Catalog` MESSAGE when there is
//! no subscription, as devices in the field do.

use std::collections::{BTreeSet, HashMap, HashSet};

use vigil_gb::manscdp::{Catalog, CatalogEvent, CatalogItem};

use super::*;

/// A change to a device's channels (by channel index), made through
/// [`SimHandle::change_catalog`](crate::sim::SimHandle::change_catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogChange {
    /// The channel disappears (DEL).
    Remove(usize),
    /// A removed channel comes back (ADD).
    Restore(usize),
    /// The channel goes online (ON) or offline (OFF).
    Status(usize, bool),
    /// The channel gets a new name (UPDATE).
    Rename(usize, String),
}

/// Test hooks, sent to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogCmd {
    Change(CatalogChange),
    /// The same change without telling the platform (it finds out on the next query).
    Quiet(CatalogChange),
    /// These packets (0-based) of the next catalog answer are never sent.
    LoseNext(Vec<usize>),
    /// Answer queries with 200 OK but never with a result.
    Mute(bool),
    /// Refuse catalog SUBSCRIBEs with this status (`None`: accept).
    RefuseSubscribe(Option<u16>),
}

/// What happened to the device's catalog subscription and notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogActivity {
    /// A SUBSCRIBE was accepted (`refresh`: inside the existing dialog).
    Subscribed { expires: u32, refresh: bool },
    /// A SUBSCRIBE with Expires: 0 ended it.
    Unsubscribed,
    /// A SUBSCRIBE was refused with `status`.
    SubscribeRefused { status: u16 },
    /// A change was sent: as NOTIFY (`notify`) or as a MESSAGE.
    ChangeSent { notify: bool },
    /// The platform answered a NOTIFY (`None`: no answer within Timer F).
    NotifyAnswered { status: Option<u16> },
}

/// Catalog counters over all devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogStats {
    /// SUBSCRIBEs accepted (new and refreshes), and refreshes among them.
    pub subscribes: u64,
    pub refreshes: u64,
    pub subscribes_refused: u64,
    /// Devices (by index) holding a subscription now.
    pub subscribed: BTreeSet<usize>,
    /// Changes sent as NOTIFY and as MESSAGE.
    pub notifies_sent: u64,
    pub messages_sent: u64,
    /// NOTIFYs the platform answered with 2xx, and the other outcomes.
    pub notifies_ok: u64,
    pub notifies_failed: u64,
}

impl CatalogStats {
    pub(crate) fn apply(&mut self, i: usize, a: &CatalogActivity) {
        match a {
            CatalogActivity::Subscribed { refresh, .. } => {
                self.subscribes += 1;
                self.refreshes += u64::from(*refresh);
                self.subscribed.insert(i);
            }
            CatalogActivity::Unsubscribed => {
                self.subscribed.remove(&i);
            }
            CatalogActivity::SubscribeRefused { .. } => self.subscribes_refused += 1,
            CatalogActivity::ChangeSent { notify: true } => self.notifies_sent += 1,
            CatalogActivity::ChangeSent { notify: false } => self.messages_sent += 1,
            CatalogActivity::NotifyAnswered { status: Some(s) } if (200..300).contains(s) => {
                self.notifies_ok += 1
            }
            CatalogActivity::NotifyAnswered { .. } => self.notifies_failed += 1,
        }
    }
}

/// The platform's catalog subscription to this device.
#[derive(Debug, Clone)]
struct Subscription {
    call_id: String,
    /// Our To tag.
    local_tag: String,
    /// The SUBSCRIBE's From (the platform, with its tag): To of our NOTIFYs.
    platform: String,
    /// Where NOTIFYs are addressed (the SUBSCRIBE's Contact).
    target: Uri,
    expires_at: Instant,
}

/// Per-device catalog state and hooks.
#[derive(Debug, Default)]
pub(super) struct CatalogSide {
    removed: HashSet<DeviceId>,
    off: HashSet<DeviceId>,
    names: HashMap<DeviceId, String>,
    lose_next: Vec<usize>,
    mute: bool,
    refuse_subscribe: Option<u16>,
    sub: Option<Subscription>,
    notify_cseq: u32,
    notify_sn: u32,
}

impl Device {
    pub(crate) fn catalog_cmd(&mut self, now: Instant, cmd: CatalogCmd) {
        match cmd {
            CatalogCmd::Change(c) => {
                if let Some(notification) = self.change_catalog(c) {
                    self.send_change(now, notification);
                }
            }
            CatalogCmd::Quiet(c) => {
                self.change_catalog(c);
            }
            CatalogCmd::LoseNext(p) => self.catalog.lose_next = p,
            CatalogCmd::Mute(m) => self.catalog.mute = m,
            CatalogCmd::RefuseSubscribe(s) => self.catalog.refuse_subscribe = s,
        }
    }

    /// Results of queries, unless the device is muted.
    pub(super) fn unless_muted(&self, bodies: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        if self.catalog.mute {
            Vec::new()
        } else {
            bodies
        }
    }

    /// The channels as the device reports them now.
    fn catalog_items(&self) -> Vec<CatalogItem> {
        let cs = self.profile.charset;
        self.channels
            .iter()
            .enumerate()
            .filter(|(_, ch)| !self.catalog.removed.contains(*ch))
            .map(|(j, ch)| self.item(j, ch, cs))
            .collect()
    }

    fn item(&self, j: usize, ch: &DeviceId, cs: Charset) -> CatalogItem {
        let mut it = answers::catalog_item(&self.id, ch, j, cs);
        if self.catalog.off.contains(ch) {
            it.status = Some("OFF".into());
        }
        if let Some(n) = self.catalog.names.get(ch) {
            it.name = Some(n.clone());
        }
        it
    }

    /// The answer to catalog query `sn`, less the packets a test asked to lose.
    pub(super) fn catalog_answer(&mut self, sn: u32) -> Vec<Vec<u8>> {
        let items = self.catalog_items();
        let bodies = answers::catalog_bodies_for_items(
            sn,
            &self.id,
            &items,
            self.profile.catalog_page,
            self.profile.charset,
        );
        let lose = std::mem::take(&mut self.catalog.lose_next);
        bodies
            .into_iter()
            .enumerate()
            .filter(|(k, _)| !lose.contains(k))
            .map(|(_, b)| b)
            .collect()
    }

    /// Applies `change`; returns the notification body for it (`None`: no such channel).
    fn change_catalog(&mut self, change: CatalogChange) -> Option<Vec<u8>> {
        let j = match &change {
            CatalogChange::Remove(j)
            | CatalogChange::Restore(j)
            | CatalogChange::Status(j, _)
            | CatalogChange::Rename(j, _) => *j,
        };
        let ch = self.channels.get(j).copied()?;
        let event = match change {
            CatalogChange::Remove(_) => {
                self.catalog.removed.insert(ch);
                CatalogEvent::Del
            }
            CatalogChange::Restore(_) => {
                self.catalog.removed.remove(&ch);
                CatalogEvent::Add
            }
            CatalogChange::Status(_, on) => {
                if on {
                    self.catalog.off.remove(&ch);
                    CatalogEvent::On
                } else {
                    self.catalog.off.insert(ch);
                    CatalogEvent::Off
                }
            }
            CatalogChange::Rename(_, name) => {
                self.catalog.names.insert(ch, name);
                CatalogEvent::Update
            }
        };
        let mut item = self.item(j, &ch, self.profile.charset);
        item.event = Some(event);
        self.catalog.notify_sn = self.catalog.notify_sn.wrapping_add(1);
        let body = Manscdp::CatalogNotify(Catalog {
            sn: self.catalog.notify_sn,
            device_id: self.id,
            sum_num: 1,
            items: vec![item],
        })
        .to_body(self.profile.charset);
        Some(body)
    }

    /// Sends a change notification: NOTIFY inside a live subscription, else a MESSAGE.
    fn send_change(&mut self, now: Instant, body: Vec<u8>) {
        let live = self
            .catalog
            .sub
            .as_ref()
            .is_some_and(|s| s.expires_at > now);
        if live {
            self.send_notify(now, body);
        } else {
            self.send_message(now, TxKind::Report, body);
        }
        self.event(Event::Catalog(CatalogActivity::ChangeSent { notify: live }));
    }

    fn send_notify(&mut self, now: Instant, body: Vec<u8>) {
        let Some(sub) = self.catalog.sub.clone() else {
            return;
        };
        self.catalog.notify_cseq = self.catalog.notify_cseq.wrapping_add(1).max(1);
        let branch = self.branch();
        let p = self.profile.clone();
        let mut req = Request::new(Method::Notify, sub.target.clone());
        let remaining = sub.expires_at.saturating_duration_since(now).as_secs();
        let h = &mut req.headers;
        h.push("Via", self.via(&branch));
        h.push(
            "From",
            format!("<sip:{}@{}>;tag={}", self.id, p.domain, sub.local_tag),
        );
        h.push("To", sub.platform.clone());
        h.push("Call-ID", sub.call_id.clone());
        h.push("CSeq", format!("{} NOTIFY", self.catalog.notify_cseq));
        h.push("Max-Forwards", "70");
        h.push("User-Agent", USER_AGENT);
        h.push("Event", "Catalog");
        h.push("Subscription-State", format!("active;expires={remaining}"));
        req.set_body("Application/MANSCDP+xml", body);
        self.start_tx(now, TxKind::Notify, branch, req.to_bytes());
    }

    pub(super) fn on_notify_response(&mut self, code: u16) {
        self.event(Event::Catalog(CatalogActivity::NotifyAnswered {
            status: Some(code),
        }));
        if matches!(code, 481 | 408) {
            // The platform does not know the subscription (any more).
            self.catalog.sub = None;
            self.event(Event::Catalog(CatalogActivity::Unsubscribed));
        }
    }

    pub(super) fn on_notify_timeout(&mut self) {
        self.event(Event::Catalog(CatalogActivity::NotifyAnswered {
            status: None,
        }));
    }

    pub(super) fn on_subscribe(
        &mut self,
        now: Instant,
        req: &Request,
        to: SocketAddr,
        branch: String,
    ) {
        let event = req.headers.get("Event").unwrap_or_default();
        let package = event.split(';').next().unwrap_or_default().trim();
        if !package.eq_ignore_ascii_case("Catalog") {
            return self.respond(now, req, 489, "Bad Event", to, branch);
        }
        if let Some(status) = self.catalog.refuse_subscribe {
            self.event(Event::Catalog(CatalogActivity::SubscribeRefused { status }));
            return self.respond(now, req, status, "", to, branch);
        }
        let (Ok(from), Ok(to_hdr), Ok(call_id)) =
            (req.headers.from(), req.headers.to(), req.headers.call_id())
        else {
            return self.respond(now, req, 400, "", to, branch);
        };
        let expires = req.headers.expires().unwrap_or(3600);
        let refresh = to_hdr.tag().is_some();
        let local_tag = match to_hdr.tag() {
            Some(tag) => {
                let known = self
                    .catalog
                    .sub
                    .as_ref()
                    .is_some_and(|s| s.local_tag == tag && s.call_id == call_id);
                if !known {
                    return self.respond(now, req, 481, "", to, branch);
                }
                tag.to_owned()
            }
            None => ids::new_tag(self.rng.random()),
        };
        let target = req
            .headers
            .contact()
            .ok()
            .flatten()
            .map_or_else(|| from.uri.clone(), |c| c.uri);
        let platform = req.headers.get("From").unwrap_or_default().to_owned();
        self.catalog.sub = (expires > 0).then(|| Subscription {
            call_id: call_id.to_owned(),
            local_tag: local_tag.clone(),
            platform,
            target,
            expires_at: now + Duration::from_secs(expires.into()),
        });
        let mut resp = Response::for_request(req, 200, "OK").with_to_tag(&local_tag);
        resp.headers.push("User-Agent", USER_AGENT);
        resp.headers.push("Expires", expires.to_string());
        resp.headers
            .push("Contact", format!("<sip:{}@{}>", self.id, self.local));
        self.serve(now, req, resp, to, branch);
        self.event(Event::Catalog(if expires > 0 {
            CatalogActivity::Subscribed { expires, refresh }
        } else {
            CatalogActivity::Unsubscribed
        }));
    }

    /// Sends a prepared response and remembers it for retransmissions (as `respond` does).
    fn serve(
        &mut self,
        now: Instant,
        req: &Request,
        resp: Response,
        to: SocketAddr,
        branch: String,
    ) {
        let bytes = Bytes::from(resp.to_bytes());
        self.out.push_back(Output::Transmit {
            to,
            bytes: bytes.clone(),
        });
        if self.profile.transport == SimTransport::Udp && !branch.is_empty() {
            if self.served.len() >= MAX_SERVED {
                self.served.pop_front();
            }
            self.served.push_back(Served {
                branch,
                method: req.method.clone(),
                to,
                bytes,
                until: now + TIMER_J,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::plan::IdPlan;

    const SERVER: &str = "127.0.0.1:5060";

    fn device() -> Device {
        let profile = Profile::new(
            SERVER.parse().unwrap(),
            "34020000002000000001",
            "3402000000",
            SimTransport::Udp,
            Duration::from_secs(60),
            3600,
            Charset::Gb2312,
            2,
            Duration::from_secs(10),
        )
        .unwrap();
        let plan = IdPlan::new("3402000000118", 1, 1, 5).unwrap();
        Device::new(
            Arc::new(profile),
            DeviceSetup {
                id: plan.device(0),
                channels: (0..5).map(|j| plan.channel(0, j)).collect(),
                password: "12345678".into(),
                local: "127.0.0.1:40000".parse().unwrap(),
                seed: 7,
            },
        )
    }

    fn drain(d: &mut Device) -> (Vec<Message>, Vec<Event>) {
        let (mut sent, mut events) = (Vec::new(), Vec::new());
        while let Some(o) = d.poll_output() {
            match o {
                Output::Transmit { bytes, .. } => sent.push(vigil_sip::parse(&bytes).unwrap()),
                Output::Event(e) => events.push(e),
                _ => {}
            }
        }
        (sent, events)
    }

    fn subscribe(to_tag: Option<&str>, cseq: u32, expires: u32, branch: &str) -> Request {
        let mut r = Request::new(
            Method::Subscribe,
            Uri::parse("sip:34020000001180000001@127.0.0.1:40000").unwrap(),
        );
        let h = &mut r.headers;
        h.push(
            "Via",
            format!("SIP/2.0/UDP {SERVER};rport;branch=z9hG4bK{branch}"),
        );
        h.push("From", "<sip:34020000002000000001@3402000000>;tag=plat");
        h.push(
            "To",
            match to_tag {
                Some(t) => format!("<sip:34020000001180000001@3402000000>;tag={t}"),
                None => "<sip:34020000001180000001@3402000000>".to_owned(),
            },
        );
        h.push("Call-ID", "sub-1");
        h.push("CSeq", format!("{cseq} SUBSCRIBE"));
        h.push("Contact", "<sip:34020000002000000001@127.0.0.1:5060>");
        h.push("Event", "Catalog");
        h.push("Expires", expires.to_string());
        r
    }

    fn feed(d: &mut Device, now: Instant, req: Request) -> (Vec<Message>, Vec<Event>) {
        d.handle_message(now, 0, Message::Request(req), SERVER.parse().unwrap());
        drain(d)
    }

    fn only_response(sent: &[Message]) -> &Response {
        match sent {
            [Message::Response(r)] => r,
            other => panic!("expected one response, got {other:#?}"),
        }
    }

    #[test]
    fn subscribe_refresh_and_notify_share_one_dialog() {
        let mut d = device();
        let now = Instant::now();
        let (sent, events) = feed(&mut d, now, subscribe(None, 1, 60, "a"));
        let ok = only_response(&sent);
        assert_eq!(ok.status.code(), 200);
        assert_eq!(ok.headers.expires(), Some(60));
        let tag = ok.headers.to().unwrap().tag().unwrap().to_owned();
        assert!(
            events.contains(&Event::Catalog(CatalogActivity::Subscribed {
                expires: 60,
                refresh: false
            }))
        );

        // A refresh inside the dialog keeps the tag.
        let (sent, events) = feed(&mut d, now, subscribe(Some(&tag), 2, 60, "b"));
        let ok = only_response(&sent);
        assert_eq!(ok.headers.to().unwrap().tag(), Some(tag.as_str()));
        assert!(
            events.contains(&Event::Catalog(CatalogActivity::Subscribed {
                expires: 60,
                refresh: true
            }))
        );
        // A dialog the device does not know: 481.
        let (sent, _) = feed(&mut d, now, subscribe(Some("other"), 3, 60, "c"));
        assert_eq!(only_response(&sent).status.code(), 481);

        // A change goes out as NOTIFY in that dialog, to the SUBSCRIBE's Contact.
        d.catalog_cmd(now, CatalogCmd::Change(CatalogChange::Remove(1)));
        let (sent, events) = drain(&mut d);
        let [Message::Request(n)] = &sent[..] else {
            panic!("{sent:#?}")
        };
        assert_eq!(n.method, Method::Notify);
        assert_eq!(n.uri.to_string(), "sip:34020000002000000001@127.0.0.1:5060");
        assert_eq!(n.headers.call_id().unwrap(), "sub-1");
        assert_eq!(n.headers.from().unwrap().tag(), Some(tag.as_str()));
        assert_eq!(n.headers.to().unwrap().tag(), Some("plat"));
        assert_eq!(n.headers.get("Event"), Some("Catalog"));
        assert_eq!(
            n.headers.get("Subscription-State"),
            Some("active;expires=60")
        );
        let (msg, _) = vigil_gb::parse_body(&n.body).unwrap();
        let Manscdp::CatalogNotify(c) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(c.items.len(), 1);
        assert_eq!(c.items[0].event, Some(CatalogEvent::Del));
        assert_eq!(c.items[0].device_id, d.channels()[1].as_str());
        assert!(
            events.contains(&Event::Catalog(CatalogActivity::ChangeSent {
                notify: true
            }))
        );

        // The removed channel is gone from the next catalog answer.
        let bodies = d.catalog_answer(9);
        let names: usize = bodies
            .iter()
            .map(|b| match vigil_gb::parse_body(b).unwrap().0 {
                Manscdp::CatalogResponse(c) => {
                    assert_eq!(c.sum_num, 4);
                    c.items.len()
                }
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(names, 4);

        // Expires: 0 ends it; the next change is a MESSAGE.
        let (sent, events) = feed(&mut d, now, subscribe(Some(&tag), 4, 0, "d"));
        assert_eq!(only_response(&sent).status.code(), 200);
        assert!(events.contains(&Event::Catalog(CatalogActivity::Unsubscribed)));
        d.catalog_cmd(now, CatalogCmd::Change(CatalogChange::Restore(1)));
        let (sent, _) = drain(&mut d);
        let [Message::Request(m)] = &sent[..] else {
            panic!("{sent:#?}")
        };
        assert_eq!(m.method, Method::Message);
    }

    #[test]
    fn refusals_lost_packets_and_silence_on_request() {
        let mut d = device();
        let now = Instant::now();
        d.catalog_cmd(now, CatalogCmd::RefuseSubscribe(Some(403)));
        let (sent, events) = feed(&mut d, now, subscribe(None, 1, 60, "a"));
        assert_eq!(only_response(&sent).status.code(), 403);
        assert!(
            events.contains(&Event::Catalog(CatalogActivity::SubscribeRefused {
                status: 403
            }))
        );
        let mut other = subscribe(None, 1, 60, "b");
        other.headers.set("Event", "Alarm");
        d.catalog_cmd(now, CatalogCmd::RefuseSubscribe(None));
        let (sent, _) = feed(&mut d, now, other);
        assert_eq!(only_response(&sent).status.code(), 489);

        // 5 channels in packets of 2: packet 1 is lost once.
        d.catalog_cmd(now, CatalogCmd::LoseNext(vec![1]));
        assert_eq!(d.catalog_answer(1).len(), 2);
        assert_eq!(d.catalog_answer(2).len(), 3);
        d.catalog_cmd(now, CatalogCmd::Mute(true));
        let answer = d.catalog_answer(3);
        assert!(d.unless_muted(answer).is_empty());
    }
}
