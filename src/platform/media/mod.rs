//! Live media in the application: RTP port allocation, per-session RTP ingest (UDP, TCP
//! passive, TCP active), the hub that fans a stream out to viewers with a GOP cache, and
//! the HLS segmenter. The sans-IO media work is `vigil_media`; this module owns the sockets,
//! tasks and timers around it.
//!
//! How a live session uses it (the live routes find the hub by session id, see
//! `api::live`):
//! ```no_run
//! # async fn live(ports: &vigil::platform::media::RtpPorts, ssrc: u32) -> anyhow::Result<()> {
//! use std::time::Duration;
//! use vigil::platform::media::*;
//!
//! let port = ports.allocate()?; // bound now; `port.port()` goes into the SDP offer
//! // ... INVITE, 200 OK: the answer gives the transport (and the address for TCP active) ...
//! let hub = Hub::new();
//! let cfg = IngestConfig::new(IngestTransport::Udp, port, Duration::from_secs(10))
//!     .expected_ssrc(ssrc)
//!     .payload_type(96, Payload::Ps);
//! let ingest = IngestSession::start(cfg, hub.clone())?;
//! // Answer `POST .../live` once there is a picture (media.invite_timeout).
//! tokio::time::timeout(Duration::from_secs(8), ingest.first_keyframe()).await??;
//! tokio::select! {
//!     reason = ingest.ended() => println!("stream ended: {reason}"), // send BYE
//!     _ = hub.idle_for(Duration::from_secs(30)) => ingest.stop(),    // nobody watches: BYE
//! }
//! # Ok(())
//! # }
//! ```

pub mod hls;
pub mod hub;
pub mod ingest;
pub mod pipeline;
pub mod ports;
pub mod rtcp;
mod udp_batch;

pub use hls::HlsStream;
pub use hub::{Fragment, Hub, HubItem, InitSegment, MediaInfo, Viewer, ViewerEnd};
pub use ingest::{
    EndReason, IngestConfig, IngestHandle, IngestSession, IngestStats, IngestTransport,
};
pub use pipeline::{Payload, StreamStats};
pub use ports::{PortsExhausted, RtpPort, RtpPorts};
