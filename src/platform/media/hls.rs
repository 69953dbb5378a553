//! HLS for a hub: fMP4 (CMAF) segments of about one second cut at key frames, a sliding
//! window of playlist entries and the init segments they refer to. [`HlsWindow`] is the
//! sans-IO segmenter; [`HlsStream`] runs it as a hub viewer while players poll it and stops
//! after [`HLS_IDLE`] without a request.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;
use tokio::time::Instant;

use super::hub::{Fragment, Hub, HubItem, InitSegment};

/// Segments listed in the playlist.
pub const PLAYLIST_SEGMENTS: usize = 6;
/// Segments kept (a player may still fetch one that just left the playlist).
const KEPT_SEGMENTS: usize = PLAYLIST_SEGMENTS + 2;
/// A key frame ends the segment once it is this long (90 kHz): about 1 s, with slack for
/// cameras whose timestamps jitter.
const CUT_AT_KEY: u64 = 81_000;
/// Longer segments are cut at any frame, which bounds memory with very long GOPs.
const MAX_SEGMENT_TICKS: u64 = 6 * 90_000;
const MAX_SEGMENT_BYTES: usize = 16 << 20;
/// The segmenter stops when no player asked for anything this long.
pub const HLS_IDLE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
struct Segment {
    sequence: u64,
    ticks: u64,
    init_version: u32,
    /// A new init segment starts here.
    discontinuity: bool,
    data: Bytes,
}

#[derive(Debug)]
struct Building {
    ticks: u64,
    init_version: u32,
    discontinuity: bool,
    data: BytesMut,
}

/// The sans-IO segmenter: push hub items, read the playlist and segments.
#[derive(Debug, Default)]
pub struct HlsWindow {
    inits: VecDeque<InitSegment>,
    segments: VecDeque<Segment>,
    building: Option<Building>,
    next_sequence: u64,
    /// Discontinuities that have left the window (`EXT-X-DISCONTINUITY-SEQUENCE`).
    discontinuity_sequence: u64,
    /// Longest segment so far, rounded to whole seconds (never decreases, as RFC 8216 asks).
    target_duration: u64,
    /// The next segment starts after a change of init segment.
    discontinuity_pending: bool,
    ended: bool,
}

impl HlsWindow {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a hub item. Returns true when a segment was completed.
    pub fn push(&mut self, item: HubItem) -> bool {
        match item {
            HubItem::Init(init) => {
                let cut = self.cut();
                // A later init starts a new timeline for players.
                self.discontinuity_pending = !self.inits.is_empty();
                self.inits.push_back(init);
                cut
            }
            HubItem::Fragment(f) => self.push_fragment(f),
        }
    }

    fn push_fragment(&mut self, f: Fragment) -> bool {
        let Some(init) = self.inits.back() else {
            return false;
        };
        let init_version = init.version;
        let mut cut = false;
        if let Some(b) = &self.building {
            let long = b.ticks >= MAX_SEGMENT_TICKS || b.data.len() >= MAX_SEGMENT_BYTES;
            if (f.key && b.ticks >= CUT_AT_KEY) || long {
                cut = self.cut();
            }
        }
        if self.building.is_none() && self.segments.is_empty() && !f.key {
            return cut; // the first segment starts with a key frame
        }
        let discontinuity = std::mem::take(&mut self.discontinuity_pending);
        let b = self.building.get_or_insert_with(|| Building {
            ticks: 0,
            init_version,
            discontinuity,
            data: BytesMut::with_capacity(f.data.len() * 32),
        });
        b.ticks += u64::from(f.duration);
        b.data.extend_from_slice(&f.data);
        cut
    }

    /// Completes the segment being built, if any.
    fn cut(&mut self) -> bool {
        let Some(b) = self.building.take() else {
            return false;
        };
        // RFC 8216: each EXTINF rounded to the nearest second fits the target duration.
        let seconds = ((b.ticks + 45_000) / 90_000).max(1);
        self.target_duration = self.target_duration.max(seconds);
        self.segments.push_back(Segment {
            sequence: self.next_sequence,
            ticks: b.ticks,
            init_version: b.init_version,
            discontinuity: b.discontinuity,
            data: b.data.freeze(),
        });
        self.next_sequence += 1;
        while self.segments.len() > KEPT_SEGMENTS {
            if self.segments.pop_front().is_some_and(|s| s.discontinuity) {
                self.discontinuity_sequence += 1;
            }
        }
        // Init segments older than every kept segment are no longer referenced.
        let oldest_kept = self.segments.front().map(|s| s.init_version);
        while self.inits.len() > 1
            && self
                .inits
                .front()
                .is_some_and(|i| Some(i.version) < oldest_kept)
        {
            self.inits.pop_front();
        }
        true
    }

    /// The stream ended: the segment being built is completed and the playlist closed.
    pub fn end(&mut self) {
        self.cut();
        self.ended = true;
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn listed(&self) -> impl Iterator<Item = &Segment> {
        self.segments
            .iter()
            .skip(self.segments.len().saturating_sub(PLAYLIST_SEGMENTS))
    }

    /// The media playlist, `None` before the first segment.
    pub fn playlist(&self) -> Option<String> {
        let first = self.listed().next()?;
        let skipped_discontinuities = self
            .segments
            .iter()
            .take_while(|s| s.sequence < first.sequence)
            .filter(|s| s.discontinuity)
            .count() as u64;
        let mut out = String::with_capacity(512);
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
            self.target_duration, first.sequence
        );
        let disc = self.discontinuity_sequence + skipped_discontinuities;
        if disc > 0 {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{disc}");
        }
        let mut map = None;
        for s in self.listed() {
            if s.discontinuity && map.is_some() {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(s.init_version) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", s.init_version);
                map = Some(s.init_version);
            }
            let _ = write!(
                out,
                "#EXTINF:{:.3},\nseg-{}.m4s\n",
                s.ticks as f64 / 90_000.0,
                s.sequence
            );
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        Some(out)
    }

    /// Segment `sequence`, while it is kept.
    pub fn segment(&self, sequence: u64) -> Option<Bytes> {
        self.segments
            .iter()
            .find(|s| s.sequence == sequence)
            .map(|s| s.data.clone())
    }

    /// Init segment `version` (`None`: the latest).
    pub fn init(&self, version: Option<u32>) -> Option<Bytes> {
        match version {
            None => self.inits.back(),
            Some(v) => self.inits.iter().find(|i| i.version == v),
        }
        .map(|i| i.data.clone())
    }
}

/// A running segmenter for one hub; get it with [`Hub::hls`].
#[derive(Debug)]
pub struct HlsStream {
    window: Mutex<HlsWindow>,
    /// Bumped when a segment completes or the stream ends.
    updates: watch::Sender<u64>,
    epoch: Instant,
    /// Milliseconds after `epoch` of the last player request.
    last_request_ms: AtomicU64,
    finished: AtomicBool,
}

impl HlsStream {
    /// Subscribes to `hub` now (so the cached GOP becomes the first segment) and segments
    /// in a task until the hub closes or players stop asking.
    pub(super) fn start(hub: &Hub) -> Arc<Self> {
        let me = Arc::new(Self {
            window: Mutex::new(HlsWindow::new()),
            updates: watch::Sender::new(0),
            epoch: Instant::now(),
            last_request_ms: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        });
        let viewer = hub.subscribe();
        tokio::spawn(run(me.clone(), viewer, hub.clone()));
        me
    }

    fn window(&self) -> MutexGuard<'_, HlsWindow> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a player request (keeps the segmenter running).
    pub fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_request_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_request_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Whether the segmenter stopped (the hub closed or nobody asked for a while).
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// The playlist, waiting up to `wait` for the first segment.
    pub async fn playlist(&self, wait: Duration) -> Option<String> {
        self.touch();
        let deadline = Instant::now() + wait;
        let mut updates = self.updates.subscribe();
        loop {
            if let Some(p) = self.window().playlist() {
                return Some(p);
            }
            if self.is_finished() {
                return None;
            }
            match tokio::time::timeout_at(deadline, updates.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    pub fn segment(&self, sequence: u64) -> Option<Bytes> {
        self.touch();
        self.window().segment(sequence)
    }

    pub fn init(&self, version: Option<u32>) -> Option<Bytes> {
        self.touch();
        self.window().init(version)
    }
}

async fn run(me: Arc<HlsStream>, mut viewer: super::hub::Viewer, hub: Hub) {
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            item = viewer.next() => match item {
                Ok(item) => {
                    if me.window().push(item) {
                        me.updates.send_modify(|n| *n += 1);
                    }
                }
                Err(_) => break,
            },
            _ = check.tick() => if me.idle() >= HLS_IDLE {
                break;
            },
        }
    }
    drop(viewer);
    me.window().end();
    me.finished.store(true, Ordering::Release);
    me.updates.send_modify(|n| *n += 1);
    hub.clear_hls(&me);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(version: u32) -> HubItem {
        HubItem::Init(InitSegment {
            version,
            data: Bytes::from(format!("init{version}")),
        })
    }

    fn frag(sequence: u32, key: bool) -> HubItem {
        HubItem::Fragment(Fragment {
            sequence,
            decode_time: u64::from(sequence) * 3600,
            duration: 3600,
            key,
            data: Bytes::from(vec![sequence as u8; 4]),
        })
    }

    /// `n` frames at 25 fps with a key frame every `gop` frames.
    fn feed(w: &mut HlsWindow, from: u32, n: u32, gop: u32) -> usize {
        (from..from + n)
            .filter(|&i| w.push(frag(i, i % gop == 0)))
            .count()
    }

    #[test]
    fn one_second_gops_make_one_second_segments() {
        let mut w = HlsWindow::new();
        assert!(w.playlist().is_none());
        w.push(init(1));
        assert_eq!(feed(&mut w, 0, 76, 25), 3); // cuts at frames 25, 50, 75
        let p = w.playlist().unwrap();
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-MAP:URI=\"init-1.mp4\"\n\
             #EXTINF:1.000,\nseg-0.m4s\n#EXTINF:1.000,\nseg-1.m4s\n#EXTINF:1.000,\nseg-2.m4s\n"
        );
        let seg = w.segment(1).unwrap();
        assert_eq!(seg.len(), 25 * 4);
        assert_eq!(seg[0], 25, "segment 1 starts with key frame 25");
        assert_eq!(w.init(Some(1)).unwrap(), Bytes::from_static(b"init1"));
    }

    #[test]
    fn short_gops_are_joined_and_the_first_segment_waits_for_a_key_frame() {
        let mut w = HlsWindow::new();
        w.push(init(1));
        assert_eq!(
            feed(&mut w, 3, 7, 10),
            0,
            "frames before the first key are skipped"
        );
        // GOP of 10 frames (0.4 s): cut at the first key frame after 0.9 s, i.e. 30 frames.
        assert_eq!(feed(&mut w, 10, 41, 10), 1);
        let p = w.playlist().unwrap();
        assert!(p.contains("#EXTINF:1.200,\nseg-0.m4s\n"), "{p}");
        assert_eq!(w.segment(0).unwrap()[0], 10);
    }

    #[test]
    fn long_gops_are_cut_at_six_seconds() {
        let mut w = HlsWindow::new();
        w.push(init(1));
        assert_eq!(feed(&mut w, 0, 151, 1000), 1);
        assert!(w.playlist().unwrap().contains("#EXT-X-TARGETDURATION:6\n"));
    }

    #[test]
    fn window_slides_and_a_new_init_is_a_discontinuity() {
        let mut w = HlsWindow::new();
        w.push(init(1));
        feed(&mut w, 0, 25 * 9 + 1, 25);
        assert_eq!(w.segment_count(), KEPT_SEGMENTS);
        let p = w.playlist().unwrap();
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{p}");
        assert_eq!(p.matches("#EXTINF").count(), PLAYLIST_SEGMENTS);
        assert!(w.segment(0).is_none());
        assert!(w.segment(1).is_some(), "kept a little past the playlist");

        w.push(init(2));
        feed(&mut w, 1000, 26, 25);
        let p = w.playlist().unwrap();
        assert!(
            p.ends_with(
                "seg-9.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n#EXTINF:1.000,\nseg-10.m4s\n"
            ),
            "{p}"
        );
        assert_eq!(w.init(None).unwrap(), Bytes::from_static(b"init2"));
        w.end();
        assert!(w.playlist().unwrap().ends_with("#EXT-X-ENDLIST\n"));
    }
}
