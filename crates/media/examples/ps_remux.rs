//! MPEG-PS file → fragmented MP4 with vigil's ingest path (PS demux, parameter sets,
//! fragmenter: one `moof`+`mdat` per frame), for the remux throughput figure in
//! docs/BENCHMARKS.md. Also writes test input: the shipped clip looped as PS.
//!
//! I/O is as cheap as the kernel allows, since on tmpfs it is most of the time: the input is
//! mapped, not read, and pushed to the demuxer as `Bytes`, so frames are slices of the mapping
//! (no copy); the fragments are written as they come out of the fragmenter with `writev` (no
//! copy into a `BufWriter`). The one copy left is the fragmenter's (Annex-B to length-prefixed
//! samples after the `moof`).
//!
//! ```text
//! cargo run --release -p vigil-media --example ps_remux -- make-ps /tmp/in.ps 60 [h264|h265]
//! cargo run --release -p vigil-media --example ps_remux -- /tmp/in.ps /tmp/out.mp4
//! ```

use std::fs::File;
use std::io::{IoSlice, Write};

use bytes::Bytes;
use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipFrame, testdata};
use vigil_media::codec::ParameterSetTracker;
use vigil_media::fmp4::{Fragmenter, VideoFrame, init_segment};
use vigil_media::ps::{PTS_MASK, PsDemuxer, PsMuxer, PsMuxerConfig};

/// Bytes pushed into the demuxer between pulls; frames cut by a slice boundary are copied.
const PUSH_SLICE: usize = 1 << 20;
/// Frames the demuxer may queue between pulls: more than one push can hold (a frame takes
/// more than 16 bytes of PS), so none is dropped.
const QUEUE_LIMIT: usize = PUSH_SLICE / 16;

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
    let mut w = std::io::BufWriter::new(File::create(out)?);
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
    let input = Input::open(input)?;
    let mut remux = Remux {
        out: FragmentWriter::new(File::create(out)?),
        demux: PsDemuxer::new().with_queue_limit(QUEUE_LIMIT),
        params: None,
        fragmenter: None,
        frames: 0,
    };
    let data = input.into_bytes();
    let mut at = 0;
    while at < data.len() {
        let end = (at + PUSH_SLICE).min(data.len());
        remux.push(&data.slice(at..end), false)?;
        at = end;
    }
    // The end of the file ends the last frame.
    remux.push(&Bytes::new(), true)?;
    remux.finish()
}

/// The input file's bytes: mapped read-only where possible, else read whole.
enum Input {
    #[cfg(unix)]
    Mapped(Mapping),
    Read(Vec<u8>),
}

impl Input {
    fn open(path: &str) -> Result<Self> {
        let file = File::open(path)?;
        #[cfg(unix)]
        if let Some(m) = Mapping::new(&file)? {
            return Ok(Input::Mapped(m));
        }
        Ok(Input::Read(std::fs::read(path)?))
    }

    fn into_bytes(self) -> Bytes {
        match self {
            #[cfg(unix)]
            Input::Mapped(m) => Bytes::from_owner(m),
            Input::Read(v) => v.into(),
        }
    }
}

/// A private read-only mapping of a whole file.
#[cfg(unix)]
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

#[cfg(unix)]
impl Mapping {
    /// `None` for an empty file or one that cannot be mapped (a pipe).
    fn new(file: &File) -> Result<Option<Self>> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(file.metadata()?.len())?;
        if len == 0 {
            return Ok(None);
        }
        // SAFETY: a fresh private read-only mapping of `len` bytes of an open file; the
        // kernel checks the arguments. MAP_POPULATE maps every page now instead of taking a
        // fault per few pages while parsing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | populate(),
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Ok(None);
        }
        Ok(Some(Self { ptr, len }))
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes and lives as long as `self`. The file
        // is the caller's input; like any tool that maps its input, this one assumes it is
        // not truncated while being read.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

#[cfg(unix)]
impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

// SAFETY: the mapping is read-only memory owned by this value alone; moving it to another
// thread is as safe as moving a `Box<[u8]>` (`Bytes::from_owner` needs `Send`).
#[cfg(unix)]
unsafe impl Send for Mapping {}

#[cfg(target_os = "linux")]
fn populate() -> libc::c_int {
    libc::MAP_POPULATE
}

#[cfg(all(unix, not(target_os = "linux")))]
fn populate() -> libc::c_int {
    0
}

#[cfg(unix)]
impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Writes whole buffers (init segment, fragments) with `writev`, several per system call,
/// without copying them.
struct FragmentWriter {
    file: File,
    queued: Vec<Bytes>,
    queued_bytes: usize,
}

impl FragmentWriter {
    /// Buffers per `writev` at most (IOV_MAX is 1,024 on Linux) and bytes queued before one.
    const MAX_BUFFERS: usize = 256;
    const FLUSH_BYTES: usize = 1 << 20;

    fn new(file: File) -> Self {
        Self {
            file,
            queued: Vec::with_capacity(Self::MAX_BUFFERS),
            queued_bytes: 0,
        }
    }

    fn write(&mut self, data: Bytes) -> Result<()> {
        self.queued_bytes += data.len();
        self.queued.push(data);
        if self.queued.len() == Self::MAX_BUFFERS || self.queued_bytes >= Self::FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let mut slices: Vec<IoSlice<'_>> = self.queued.iter().map(|b| IoSlice::new(b)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = self.file.write_vectored(rest)?;
            if n == 0 {
                return Err("write returned 0".into());
            }
            IoSlice::advance_slices(&mut rest, n);
        }
        self.queued.clear();
        self.queued_bytes = 0;
        Ok(())
    }
}

/// The remux pipeline: PS demuxer → parameter sets → fragmenter → file.
struct Remux {
    out: FragmentWriter,
    demux: PsDemuxer,
    params: Option<ParameterSetTracker>,
    fragmenter: Option<Fragmenter>,
    frames: u64,
}

impl Remux {
    /// A file has no RTP: one timestamp throughout, and frames end at each new PTS.
    fn push(&mut self, ps: &Bytes, end: bool) -> Result<()> {
        self.demux.push_bytes(0, end, ps);
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
                self.out.write(init_segment(p))?;
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
                self.out.write(frag.data)?;
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
