//! MPEG-PS file → fragmented MP4 with vigil's ingest path (PS demux, parameter sets,
//! fragmenter: one `moof`+`mdat` per frame), for the remux throughput figure in
//! docs/BENCHMARKS.md. Also writes test input: the shipped clip looped as PS.
//!
//! ```text
//! cargo run --release -p vigil-media --example ps_remux -- make-ps /tmp/in.ps 60 [h264|h265]
//! cargo run --release -p vigil-media --example ps_remux -- /tmp/in.ps /tmp/out.mp4
//! ```

use std::io::{BufWriter, Read, Write};

use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipFrame, testdata};
use vigil_media::codec::ParameterSetTracker;
use vigil_media::fmp4::{Fragmenter, VideoFrame, init_segment};
use vigil_media::ps::{PTS_MASK, PsDemuxer, PsMuxer, PsMuxerConfig};

/// Bytes pushed into the demuxer between pulls.
const PUSH_SLICE: usize = 2048;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("make-ps") => {
            let out = args.get(1).ok_or("make-ps OUT SECONDS [h264|h265]")?;
            let seconds: u64 = args.get(2).map_or(Ok(60), |s| s.parse())?;
            let codec = match args.get(3).map(String::as_str) {
                Some("h265") => VideoCodec::H265,
                _ => VideoCodec::H264,
            };
            make_ps(out, seconds, codec)
        }
        Some(input) => {
            let out = args.get(1).ok_or("IN.ps OUT.mp4")?;
            remux(input, out)
        }
        None => Err("usage: ps_remux IN.ps OUT.mp4 | ps_remux make-ps OUT SECONDS [codec]".into()),
    }
}

/// The shipped clip (25 fps) looped for `seconds` as a program stream, PTS continuous.
fn make_ps(out: &str, seconds: u64, codec: VideoCodec) -> Result<()> {
    let data = match codec {
        VideoCodec::H264 => testdata::H264_640X360_25FPS,
        VideoCodec::H265 => testdata::H265_640X360_25FPS,
    };
    let frames: Vec<ClipFrame> = AnnexBReader::new(codec, data).collect();
    let muxer = PsMuxer::new(PsMuxerConfig::new(codec.into()));
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    let mut buf = Vec::new();
    for i in 0..seconds * 25 {
        let f = &frames[(i % frames.len() as u64) as usize];
        buf.clear();
        muxer.write_video(&mut buf, &f.data, (i * 3600) & PTS_MASK, None, f.key);
        w.write_all(&buf)?;
    }
    w.flush()?;
    Ok(())
}

fn remux(input: &str, out: &str) -> Result<()> {
    let mut file = std::fs::File::open(input)?;
    let mut remux = Remux {
        out: BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?),
        demux: PsDemuxer::new(),
        params: None,
        fragmenter: None,
        frames: 0,
    };
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        // Slices small enough that the demuxer's queue (64 frames) cannot overflow between
        // pulls: a frame takes more than 32 bytes of PS.
        for slice in chunk[..n].chunks(PUSH_SLICE) {
            remux.push(slice, false)?;
        }
    }
    // The end of the file ends the last frame.
    remux.push(&[], true)?;
    remux.finish()
}

/// The remux pipeline: PS demuxer → parameter sets → fragmenter → file.
struct Remux {
    out: BufWriter<std::fs::File>,
    demux: PsDemuxer,
    params: Option<ParameterSetTracker>,
    fragmenter: Option<Fragmenter>,
    frames: u64,
}

impl Remux {
    /// A file has no RTP: one timestamp throughout, and frames end at each new PTS.
    fn push(&mut self, ps: &[u8], end: bool) -> Result<()> {
        self.demux.push(0, end, ps);
        while let Some(frame) = self.demux.pull() {
            let frame = frame?;
            let Some(codec) = frame.video_codec() else {
                continue;
            };
            let tracker = self
                .params
                .get_or_insert_with(|| ParameterSetTracker::new(codec));
            if tracker.observe(&frame.data)? {
                let p = tracker.params().ok_or("parameter sets")?;
                self.out.write_all(&init_segment(p))?;
                self.fragmenter = Some(Fragmenter::new(p.fps));
            }
            let Some(f) = self.fragmenter.as_mut() else {
                continue;
            };
            f.push(VideoFrame {
                pts: frame.pts,
                dts: frame.dts,
                key: codec.is_key_frame(&frame.data),
                data: frame.data,
            });
            self.write_fragments()?;
        }
        Ok(())
    }

    fn write_fragments(&mut self) -> Result<()> {
        if let Some(f) = self.fragmenter.as_mut() {
            while let Some(frag) = f.pull() {
                self.out.write_all(&frag.data)?;
                self.frames += 1;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        if let Some(f) = self.fragmenter.as_mut() {
            f.flush();
        }
        self.write_fragments()?;
        self.out.flush()?;
        let overflowed = self.demux.stats().overflowed;
        if overflowed > 0 {
            return Err(format!("{overflowed} frames lost in the demuxer's queue").into());
        }
        eprintln!("{} frames", self.frames);
        Ok(())
    }
}
