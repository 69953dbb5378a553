//! The GB28181 device simulator: thousands of cameras/NVRs in one process, speaking real SIP
//! over real sockets to a platform (ours or anyone's). It is the peer of the integration
//! tests, the `vigil demo` cameras and the `vigil sim` load generator.
//!
//! Each device is a sans-IO state machine ([`device::Device`]); one driver task owns them
//! all, with a timer heap, a few shared UDP sockets (replies are routed to a device by the
//! IDs in the message) or one TCP connection per device, as real devices do. Tests observe
//! it through [`SimHandle`]: counters and per-device state in a `watch` channel, commands to
//! unplug, unregister or re-register single devices.
//!
//! Live view: channels answer INVITE with an SDP answer (`device/call.rs`, sans-IO) and,
//! once ACKed, stream a clip as PS over RTP (UDP from one shared socket, or RFC 4571 over
//! TCP in either direction) from the same driver task, frames timed by one heap
//! ([`media`]); BYE from either side stops the stream. [`SimMedia`] sets codec, frame rate,
//! loss, a mismatched SSRC or raw H.264, and [`SimHandle::hangup`] makes a device hang up.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use vigil::sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig {
//!     server: "127.0.0.1:5060".parse()?,
//!     devices: 100,
//!     ..SimConfig::default()
//! })
//! .await?;
//! sim.wait_registered(100, std::time::Duration::from_secs(10)).await?;
//! sim.stop().await;
//! # Ok(()) }
//! ```

pub mod answers;
pub mod device;
mod driver;
pub mod media;
pub mod plan;
mod status;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use vigil_gb::{Charset, DeviceId};

pub use device::{CatalogActivity, CatalogChange, CatalogStats};
pub use device::{DeviceState, Event, InviteAnswer, SimTransport};
pub use device::{PtzAnswer, PtzMotion, PtzPosition, PtzView};
pub use media::SimMedia;
pub use plan::{IdPlan, PlanError};
pub use status::{ChannelView, DeviceView, SimStatus};

/// Gives device `index` (with ID `id`) a password of its own; see [`SimConfig::password_for`].
pub type PasswordFn = Arc<dyn Fn(usize, &DeviceId) -> String + Send + Sync>;

/// What to simulate and against which platform.
#[derive(Clone)]
pub struct SimConfig {
    /// The platform's SIP address.
    pub server: SocketAddr,
    /// The platform's 20-digit ID (Request-URI and To of REGISTER and MESSAGE).
    pub server_id: String,
    /// SIP domain (host part of every URI).
    pub domain: String,
    /// Number of devices.
    pub devices: usize,
    /// Channels per device (IDs of type 131).
    pub channels: usize,
    /// Device IDs are `id_prefix` + serial, 20 digits (13 to 19 digit prefix).
    pub id_prefix: String,
    /// Serial of the first device.
    pub first_serial: u64,
    /// Password of every device without an override.
    pub password: String,
    /// Per-device password override (tests give one device a wrong password).
    pub password_for: Option<PasswordFn>,
    pub transport: SimTransport,
    /// Keepalive MESSAGE period.
    pub keepalive_interval: Duration,
    /// Expires asked for in REGISTER (seconds).
    pub register_expires: u32,
    /// Devices started per second; 0 starts all at once.
    pub rate: f64,
    /// Local address to bind and advertise; `None` takes the one that routes to `server`.
    pub bind_ip: Option<IpAddr>,
    /// UDP sockets shared by the devices; 0 picks one per 2,500 devices (at most 8).
    pub udp_sockets: usize,
    /// Catalog items per result MESSAGE.
    pub catalog_page: usize,
    /// Charset of every MANSCDP body the devices send.
    pub charset: Charset,
    /// First back-off after a refused or unanswered REGISTER; doubles up to 8x, ±20%.
    pub retry_interval: Duration,
    /// Seed for tags, branches, Call-IDs and jitter (random when `None`).
    pub seed: Option<u64>,
    /// Live view: how INVITEs are answered and what is streamed.
    pub media: SimMedia,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            server: "127.0.0.1:5060".parse().expect("literal address"),
            server_id: "34020000002000000001".into(),
            domain: "3402000000".into(),
            devices: 1,
            channels: 1,
            id_prefix: "3402000000132".into(),
            first_serial: 1,
            password: "12345678".into(),
            password_for: None,
            transport: SimTransport::Udp,
            keepalive_interval: Duration::from_secs(60),
            register_expires: 3600,
            rate: 200.0,
            bind_ip: None,
            udp_sockets: 0,
            catalog_page: 1,
            charset: Charset::Gb2312,
            retry_interval: Duration::from_secs(10),
            seed: None,
            media: SimMedia::default(),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("server", &self.server)
            .field("server_id", &self.server_id)
            .field("domain", &self.domain)
            .field("devices", &self.devices)
            .field("channels", &self.channels)
            .field("id_prefix", &self.id_prefix)
            .field("first_serial", &self.first_serial)
            .field("password", &"***")
            .field("password_for", &self.password_for.as_ref().map(|_| "fn"))
            .field("transport", &self.transport)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("register_expires", &self.register_expires)
            .field("rate", &self.rate)
            .field("bind_ip", &self.bind_ip)
            .field("udp_sockets", &self.udp_sockets)
            .field("catalog_page", &self.catalog_page)
            .field("charset", &self.charset)
            .field("retry_interval", &self.retry_interval)
            .field("media", &self.media)
            .finish_non_exhaustive()
    }
}

/// Why a simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator config: {0}")]
    Config(String),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "{devices} TCP devices need {needed} file descriptors but the limit is {limit}: raise it (ulimit -n {needed}) or use UDP"
    )]
    FdLimit {
        devices: usize,
        needed: u64,
        limit: u64,
    },
}

/// A condition did not hold in time; carries the status at that moment for the test log.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}; simulator: {status}")]
pub struct WaitTimeout {
    pub what: String,
    pub waited: Duration,
    pub status: String,
}

/// Starts simulations.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds the sockets, builds the devices and starts the driver; devices begin registering
    /// at `config.rate` per second.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        driver::start(config).await
    }
}

#[derive(Debug)]
pub(crate) enum DeviceCmd {
    Register,
    Unregister,
    Unplug,
    Keepalives(bool),
    Password(String),
    /// Hang up the live calls of this channel (all calls with `None`).
    Hangup(Option<DeviceId>),
    Catalog(device::CatalogCmd),
    /// Send this MANSCDP body as a MESSAGE (an alarm, a media status, a malformed body).
    Send(Vec<u8>),
    /// Answer PTZ controls this way from now on.
    PtzAnswer(PtzAnswer),
}

/// Control and observation of a running simulation. Dropping it stops the simulation.
#[derive(Debug)]
pub struct SimHandle {
    cmds: mpsc::Sender<(usize, DeviceCmd)>,
    status: watch::Receiver<SimStatus>,
    plan: IdPlan,
    devices: usize,
    udp_local: Vec<SocketAddr>,
    stop: CancellationToken,
    task: JoinHandle<()>,
    _guard: DropGuard,
}

impl SimHandle {
    /// Number of simulated devices.
    pub fn devices(&self) -> usize {
        self.devices
    }

    /// The ID of device `i` (0-based).
    pub fn device_id(&self, i: usize) -> DeviceId {
        self.plan.device(i)
    }

    /// The ID of channel `j` of device `i`.
    pub fn channel_id(&self, i: usize, j: usize) -> DeviceId {
        self.plan.channel(i, j)
    }

    /// The local addresses of the shared UDP sockets (empty over TCP).
    pub fn udp_local_addrs(&self) -> &[SocketAddr] {
        &self.udp_local
    }

    /// A copy of the counters and every device's view.
    pub fn status(&self) -> SimStatus {
        self.status.borrow().clone()
    }

    /// Reads the status without copying it.
    pub fn with_status<R>(&self, f: impl FnOnce(&SimStatus) -> R) -> R {
        f(&self.status.borrow())
    }

    /// What device `i` is doing.
    pub fn device(&self, i: usize) -> Option<DeviceView> {
        self.status.borrow().devices.get(i).cloned()
    }

    /// Waits until `pred` holds for the status, or fails after `timeout` naming `what`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&SimStatus) -> bool,
    ) -> Result<(), WaitTimeout> {
        let mut rx = self.status.clone();
        match tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await {
            Ok(Ok(_)) => Ok(()),
            // Err(_) from wait_for means the driver is gone; report it like a timeout.
            _ => Err(WaitTimeout {
                what: what.to_owned(),
                waited: timeout,
                status: self.status.borrow().to_string(),
            }),
        }
    }

    /// Waits until at least `n` devices are registered.
    pub async fn wait_registered(&self, n: usize, timeout: Duration) -> Result<(), WaitTimeout> {
        self.wait_for(&format!("{n} devices registered"), timeout, |s| {
            s.registered >= n
        })
        .await
    }

    /// Waits until device `i` is in `state`.
    pub async fn wait_state(
        &self,
        i: usize,
        state: DeviceState,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        self.wait_for(&format!("device {i} {state:?}"), timeout, |s| {
            s.devices.get(i).is_some_and(|d| d.state == state)
        })
        .await
    }

    async fn send(&self, i: usize, cmd: DeviceCmd) {
        if i < self.devices {
            let _ = self.cmds.send((i, cmd)).await;
        }
    }

    /// Device `i` registers now (refresh when registered; also after unregister/unplug).
    pub async fn register(&self, i: usize) {
        self.send(i, DeviceCmd::Register).await
    }

    /// Device `i` sends REGISTER with Expires: 0 and goes quiet.
    pub async fn unregister(&self, i: usize) {
        self.send(i, DeviceCmd::Unregister).await
    }

    /// Device `i` goes silent at once, as if unplugged: no keepalive, no refresh, no answers.
    pub async fn unplug(&self, i: usize) {
        self.send(i, DeviceCmd::Unplug).await
    }

    /// Device `i` stops sending keepalives (silently); registration refreshes go on.
    pub async fn stop_keepalives(&self, i: usize) {
        self.send(i, DeviceCmd::Keepalives(false)).await
    }

    /// Device `i` sends keepalives again (the first one at once).
    pub async fn resume_keepalives(&self, i: usize) {
        self.send(i, DeviceCmd::Keepalives(true)).await
    }

    /// Device `i` uses `password` from its next REGISTER on.
    pub async fn set_password(&self, i: usize, password: &str) {
        self.send(i, DeviceCmd::Password(password.to_owned())).await
    }

    /// Device `i` changes its channels and tells the platform: a NOTIFY when the platform
    /// holds a catalog subscription, else a `Notify/Catalog` MESSAGE.
    pub async fn change_catalog(&self, i: usize, change: CatalogChange) {
        let cmd = device::CatalogCmd::Change(change);
        self.send(i, DeviceCmd::Catalog(cmd)).await
    }

    /// Device `i` changes its channels without telling the platform (a refresh finds out).
    pub async fn change_catalog_quietly(&self, i: usize, change: CatalogChange) {
        let cmd = device::CatalogCmd::Quiet(change);
        self.send(i, DeviceCmd::Catalog(cmd)).await
    }

    /// Device `i` never sends these packets (0-based) of its next catalog answer.
    pub async fn lose_catalog_packets(&self, i: usize, packets: &[usize]) {
        let cmd = device::CatalogCmd::LoseNext(packets.to_vec());
        self.send(i, DeviceCmd::Catalog(cmd)).await
    }

    /// Device `i` answers queries with 200 OK but sends no result (or does again).
    pub async fn mute_queries(&self, i: usize, mute: bool) {
        self.send(i, DeviceCmd::Catalog(device::CatalogCmd::Mute(mute)))
            .await
    }

    /// Device `i` refuses catalog SUBSCRIBEs with `status` (`None`: accepts them again).
    pub async fn refuse_catalog_subscribe(&self, i: usize, status: Option<u16>) {
        let cmd = device::CatalogCmd::RefuseSubscribe(status);
        self.send(i, DeviceCmd::Catalog(cmd)).await
    }

    /// Device `i`, when registered, sends `body` as a MANSCDP MESSAGE, as devices push
    /// alarms and media status: `Manscdp::AlarmNotify(..).to_body(charset)`, or any bytes to
    /// see how the platform takes a malformed one. Refusals are counted in
    /// [`SimStatus::reports_refused`].
    pub async fn send_manscdp(&self, i: usize, body: Vec<u8>) {
        self.send(i, DeviceCmd::Send(body)).await
    }

    /// Device `i` hangs up the live view of its channel `j` (BYE from the device side).
    pub async fn hangup(&self, i: usize, j: usize) {
        let channel = self.plan.channel(i, j);
        self.send(i, DeviceCmd::Hangup(Some(channel))).await
    }

    /// Device `i` answers PTZ controls this way from now on (it obeys by default): refuse
    /// with a status, or leave them unanswered while everything else goes on.
    pub async fn ptz_answer(&self, i: usize, answer: PtzAnswer) {
        self.send(i, DeviceCmd::PtzAnswer(answer)).await
    }

    /// The PTZ state of `channel` (or of a device addressed by its own ID) as of its last
    /// PTZ command; default before any.
    pub fn ptz(&self, channel: &DeviceId) -> PtzView {
        let status = self.status.borrow();
        status.ptz.get(channel).cloned().unwrap_or_default()
    }

    /// The live view counters of channel `j` of device `i` (default before any INVITE).
    pub fn channel(&self, i: usize, j: usize) -> ChannelView {
        let id = self.plan.channel(i, j);
        self.status
            .borrow()
            .channels
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    /// Stops every device at once (no unregistration, like a power cut) and waits for the
    /// driver to end.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
