//! What a simulation has done so far: counters over all devices and one small view per
//! device, folded from the devices' events by the driver and published through a `watch`.

use std::collections::BTreeMap;
use std::fmt;

use vigil_gb::DeviceId;
use vigil_gb::manscdp::Root;

use super::device::{DeviceState, Event};

/// One device as the simulator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub id: DeviceId,
    pub state: DeviceState,
    /// Status of the last final answer to REGISTER (`None` before any, or after a timeout).
    pub last_register_status: Option<u16>,
    /// Successful REGISTERs (first and refreshes).
    pub registrations: u32,
    pub register_failures: u32,
    pub keepalives_sent: u32,
    pub keepalives_ok: u32,
}

/// Counters over all devices plus every device's view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStatus {
    /// Devices registered right now.
    pub registered: usize,
    /// 200 OKs to REGISTER (first and refreshes).
    pub registrations: u64,
    /// Final refusals of REGISTER by status code.
    pub register_failures: BTreeMap<u16, u64>,
    /// REGISTERs without a final answer (Timer F) or lost with their TCP connection.
    pub register_timeouts: u64,
    /// 401/407 challenges answered, and how many of them said `stale=true`.
    pub challenges: u64,
    pub stale_challenges: u64,
    pub unregistrations: u64,
    pub keepalives_sent: u64,
    pub keepalives_ok: u64,
    /// Non-2xx answers to keepalives by status code.
    pub keepalives_refused: BTreeMap<u16, u64>,
    pub keepalive_timeouts: u64,
    /// Query MESSAGEs from the platform by CmdType.
    pub queries: BTreeMap<String, u64>,
    /// Other MESSAGEs from the platform by `Root/CmdType`.
    pub other_messages: BTreeMap<String, u64>,
    /// Result MESSAGEs sent (catalog pages, device info, ...), and those refused or lost.
    pub reports_sent: u64,
    pub reports_failed: u64,
    /// Non-2xx answers to result MESSAGEs (and to `SimHandle::send_manscdp`) by status.
    pub reports_refused: BTreeMap<u16, u64>,
    /// Messages that could not be sent (socket errors, full TCP queues).
    pub send_errors: u64,
    /// Catalog subscriptions and change notifications.
    pub catalog: super::device::CatalogStats,
    pub devices: Vec<DeviceView>,
    /// Live view per channel that got an INVITE.
    pub channels: BTreeMap<DeviceId, ChannelView>,
    /// Streams sending now, over all channels.
    pub streams: usize,
    /// RTP packets sent, and not sent (simulated loss, full socket or TCP queues).
    pub rtp_packets_sent: u64,
    pub rtp_packets_dropped: u64,
    /// PTZ per channel that got a PTZ command.
    pub ptz: BTreeMap<DeviceId, super::device::PtzView>,
}

/// Live view of one channel as the simulator sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelView {
    /// INVITEs received (retransmissions not counted).
    pub invites: u32,
    /// Final answers by status.
    pub answers: BTreeMap<u16, u32>,
    pub acks: u32,
    /// BYEs from the platform, and BYEs the device sent.
    pub byes_received: u32,
    pub byes_sent: u32,
    /// Streams of this channel sending now.
    pub streaming: u32,
}

impl SimStatus {
    pub(crate) fn new(ids: impl Iterator<Item = DeviceId>) -> SimStatus {
        SimStatus {
            devices: ids
                .map(|id| DeviceView {
                    id,
                    state: DeviceState::Idle,
                    last_register_status: None,
                    registrations: 0,
                    register_failures: 0,
                    keepalives_sent: 0,
                    keepalives_ok: 0,
                })
                .collect(),
            ..SimStatus::default()
        }
    }

    /// The live view counters of `channel`.
    pub(crate) fn channel_mut(&mut self, channel: &DeviceId) -> &mut ChannelView {
        self.channels.entry(*channel).or_default()
    }

    /// Devices in `state` right now.
    pub fn count(&self, state: DeviceState) -> usize {
        self.devices.iter().filter(|d| d.state == state).count()
    }

    pub(crate) fn apply(&mut self, i: usize, e: &Event) {
        let Some(dev) = self.devices.get_mut(i) else {
            return;
        };
        match e {
            Event::State { from, to } => {
                if *to == DeviceState::Registered {
                    self.registered += 1;
                }
                if *from == DeviceState::Registered {
                    self.registered = self.registered.saturating_sub(1);
                }
                dev.state = *to;
            }
            Event::Registered { .. } => {
                self.registrations += 1;
                dev.registrations += 1;
                dev.last_register_status = Some(200);
            }
            Event::Challenged { stale } => {
                self.challenges += 1;
                self.stale_challenges += u64::from(*stale);
            }
            Event::RegisterFailed { status } => {
                *self.register_failures.entry(*status).or_default() += 1;
                dev.register_failures += 1;
                dev.last_register_status = Some(*status);
            }
            Event::RegisterTimedOut => {
                self.register_timeouts += 1;
                dev.register_failures += 1;
                dev.last_register_status = None;
            }
            Event::Unregistered => self.unregistrations += 1,
            Event::KeepaliveSent => {
                self.keepalives_sent += 1;
                dev.keepalives_sent += 1;
            }
            Event::KeepaliveAnswered { status } if (200..300).contains(status) => {
                self.keepalives_ok += 1;
                dev.keepalives_ok += 1;
            }
            Event::KeepaliveAnswered { status } => {
                *self.keepalives_refused.entry(*status).or_default() += 1;
            }
            Event::KeepaliveTimedOut => self.keepalive_timeouts += 1,
            Event::MessageReceived { root, cmd_type } => {
                if *root == Root::Query {
                    *self.queries.entry(cmd_type.clone()).or_default() += 1;
                } else {
                    *self
                        .other_messages
                        .entry(format!("{root}/{cmd_type}"))
                        .or_default() += 1;
                }
            }
            Event::ReportSent => self.reports_sent += 1,
            Event::ReportFailed { status } => {
                self.reports_failed += 1;
                if let Some(s) = status {
                    *self.reports_refused.entry(*s).or_default() += 1;
                }
            }
            Event::Catalog(a) => self.catalog.apply(i, a),
            Event::InviteReceived { channel } => self.channel_mut(channel).invites += 1,
            Event::InviteAnswered { channel, status } => {
                *self
                    .channel_mut(channel)
                    .answers
                    .entry(*status)
                    .or_default() += 1;
            }
            Event::AckReceived { channel } => self.channel_mut(channel).acks += 1,
            Event::ByeReceived { channel } => self.channel_mut(channel).byes_received += 1,
            Event::ByeSent { channel } => self.channel_mut(channel).byes_sent += 1,
            Event::Ptz { channel, view } => {
                self.ptz.insert(*channel, (**view).clone());
            }
        }
    }
}

/// One line for logs and the `vigil sim` status output.
impl fmt::Display for SimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "registered {}/{} (REGISTER ok {}, refused {:?}, unanswered {}, challenges {} stale {}); keepalives sent {} ok {} refused {:?} unanswered {}",
            self.registered,
            self.devices.len(),
            self.registrations,
            self.register_failures,
            self.register_timeouts,
            self.challenges,
            self.stale_challenges,
            self.keepalives_sent,
            self.keepalives_ok,
            self.keepalives_refused,
            self.keepalive_timeouts,
        )?;
        if !self.queries.is_empty() || !self.other_messages.is_empty() {
            write!(
                f,
                "; queries {:?} other {:?} reports {}",
                self.queries, self.other_messages, self.reports_sent
            )?;
        }
        if !self.channels.is_empty() {
            let invites: u32 = self.channels.values().map(|c| c.invites).sum();
            write!(
                f,
                "; INVITEs {invites}, streams {}, RTP sent {} dropped {}",
                self.streams, self.rtp_packets_sent, self.rtp_packets_dropped
            )?;
        }
        if self.send_errors > 0 {
            write!(f, "; send errors {}", self.send_errors)?;
        }
        Ok(())
    }
}
