//! vigil-media: RTP, MPEG-PS demux/mux, H.264/H.265 access units, fMP4 muxing. Sans-IO.
//!
//! Nothing here opens a socket or reads a clock: bytes and time are arguments, so the
//! application drives these machines from tokio and tests drive them from fixtures.
//!
//! Ingest path: [`rtp::RtpPacket`] → [`rtp::ReorderBuffer`] → [`ps::PsDemuxer`] (or
//! [`rtp::H264Depacketizer`] for raw PT 98) → [`codec::ParameterSetTracker`] →
//! [`fmp4::Fragmenter`]. Simulator path: [`clip::AnnexBReader`] → [`clip::ClipStreamer`]
//! (a [`ps::PsMuxer`] plus a [`ps::PsRtpPacketizer`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use vigil_media::{VideoCodec, clip::*, codec::ParameterSetTracker, fmp4::*, ps::PsDemuxer, rtp::*};
//!
//! // Simulator side: the shipped clip as PS over RTP.
//! let mut camera = ClipStreamer::from_testdata(VideoCodec::H264, ClipStreamerConfig::new(200_000_001));
//! // Server side, per stream.
//! let (mut reorder, mut demux) = (ReorderBuffer::new(64, Duration::from_millis(50)), PsDemuxer::new());
//! let mut params = ParameterSetTracker::new(VideoCodec::H264);
//! let mut fragmenter = Fragmenter::new(Some(25.0));
//! let (now, mut init, mut fragments) = (Instant::now(), None, 0);
//! for _ in 0..3 {
//!     for datagram in camera.next_frame(|| 0).packets {
//!         reorder.push(now, RtpPacket::parse(datagram).unwrap());
//!         while let Some(out) = reorder.pull(now) {
//!             match out {
//!                 ReorderOutput::Packet(p) => demux.push(p.header.timestamp, p.header.marker, &p.payload),
//!                 ReorderOutput::Gap { .. } => demux.lost(),
//!             }
//!         }
//!         while let Some(Ok(frame)) = demux.pull() {
//!             if params.observe(&frame.data).unwrap() {
//!                 init = Some(init_segment(params.params().unwrap()));
//!             }
//!             let key = VideoCodec::H264.is_key_frame(&frame.data);
//!             fragmenter.push(VideoFrame { pts: frame.pts, dts: frame.dts, key, data: frame.data });
//!             fragments += std::iter::from_fn(|| fragmenter.pull()).count();
//!         }
//!     }
//! }
//! assert_eq!(params.params().unwrap().codec_string, "avc1.4d401e");
//! assert!(init.is_some());
//! assert_eq!(fragments, 2); // the third waits for the next frame's timestamp
//! ```
#![forbid(unsafe_code)]

pub mod clip;
pub mod codec;
pub mod fmp4;
pub mod ps;
pub mod rtp;
mod ts;

pub use codec::VideoCodec;
pub use ts::TimestampUnwrapper;
