//! Runs a shipped clip through the whole ingest path (PS over RTP → demux → fMP4) and writes
//! the result, to check with ffprobe or a browser:
//!
//! `cargo run -p vigil-media --example clip_to_fmp4 -- h264 /tmp/clip.mp4 [frames]`

use bytes::Bytes;
use vigil_media::VideoCodec;
use vigil_media::clip::{ClipStreamer, ClipStreamerConfig};
use vigil_media::codec::ParameterSetTracker;
use vigil_media::fmp4::{Fragmenter, VideoFrame, init_segment};
use vigil_media::ps::PsDemuxer;
use vigil_media::rtp::RtpPacket;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let codec = match args.get(1).map(String::as_str) {
        Some("h265") => VideoCodec::H265,
        _ => VideoCodec::H264,
    };
    let path = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/tmp/clip.mp4".into());
    let frames: usize = args.get(3).map_or(Ok(100), |s| s.parse())?;

    let mut streamer = ClipStreamer::from_testdata(codec, ClipStreamerConfig::new(1));
    let mut demux = PsDemuxer::new();
    let mut params = ParameterSetTracker::new(codec);
    let mut fragmenter = None;
    let mut out = Vec::new();
    for _ in 0..frames {
        for datagram in streamer.next_frame(|| 0).packets {
            let p = RtpPacket::parse(datagram)?;
            demux.push(p.header.timestamp, p.header.marker, &p.payload);
        }
        while let Some(frame) = demux.pull() {
            let frame = frame?;
            if params.observe(&frame.data)? {
                let p = params.params().expect("set when observe says so");
                eprintln!(
                    "{} {}x{} fps {:?}",
                    p.codec_string, p.width, p.height, p.fps
                );
                out.extend_from_slice(&init_segment(p));
                fragmenter = Some(Fragmenter::new(p.fps));
            }
            let Some(f) = fragmenter.as_mut() else {
                continue;
            };
            let key = codec.is_key_frame(&frame.data);
            f.push(VideoFrame {
                pts: frame.pts,
                dts: frame.dts,
                key,
                data: frame.data,
            });
            while let Some(frag) = f.pull() {
                out.extend_from_slice(&frag.data);
            }
        }
    }
    if let Some(f) = fragmenter.as_mut() {
        f.flush();
        while let Some(frag) = f.pull() {
            out.extend_from_slice(&frag.data);
        }
    }
    std::fs::write(&path, Bytes::from(out))?;
    eprintln!("wrote {path}");
    Ok(())
}
