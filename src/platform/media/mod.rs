//! Live media in the application: RTP port allocation, per-session RTP ingest (UDP, TCP
//! passive, TCP active), the hub that fans a stream out to viewers with a GOP cache, and
//! the HLS segmenter. The sans-IO media work is `vigil_media`; this module owns the sockets,
//! tasks and timers around it.
//!
//! How a live session uses it:
//! ```text
//! let port = ports.allocate()?;                       // its number goes into the SDP offer
//! let hub = Hub::new();
//! let ingest = IngestSession::start(IngestConfig::new(IngestTransport::Udp, port, rtp_timeout)
//!     .expected_ssrc(ssrc), hub.clone()).await?;       // before INVITE (TCP active: after 200 OK)
//! ingest.first_keyframe().await?;                     // answer POST .../live
//! select! { r = ingest.ended() => BYE, _ = hub.idle_for(idle_timeout) => BYE }
//! ```

pub mod hls;
pub mod hub;
pub mod ingest;
pub mod pipeline;
pub mod ports;

pub use hls::HlsStream;
pub use hub::{Fragment, Hub, HubItem, InitSegment, MediaInfo, Viewer, ViewerEnd};
pub use ingest::{
    EndReason, IngestConfig, IngestHandle, IngestSession, IngestStats, IngestTransport,
};
pub use pipeline::{Payload, StreamStats};
pub use ports::{PortsExhausted, RtpPort, RtpPorts};
