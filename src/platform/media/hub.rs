//! The live hub: one per live session. Fans one ingest's fMP4 stream out to any number of
//! viewers. It keeps the current init segment and the fragments since the last key frame
//! (the GOP), so a new viewer gets init, the cached GOP and then live fragments, and shows a
//! picture at once. Memory is bounded: the fan-out queue holds at most `capacity`
//! fragments, a viewer that falls out of it skips to the next key frame, and one that keeps
//! falling behind is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use vigil_media::VideoCodec;
pub use vigil_media::fmp4::Fragment;

use super::hls::HlsStream;

/// Fragments queued for viewers (about 5 s at 25 fps). A viewer further behind skips.
pub const DEFAULT_CAPACITY: usize = 128;
/// The GOP cache stops (until the next key frame) beyond this many fragments ...
const MAX_GOP_FRAGMENTS: usize = 600;
/// ... or bytes: a camera with a huge GOP makes new viewers wait for its next key frame
/// instead of growing memory.
const MAX_GOP_BYTES: usize = 16 << 20;
/// A viewer that falls behind this many times within `LAG_WINDOW` is disconnected.
const LAG_LIMIT: usize = 5;
const LAG_WINDOW: Duration = Duration::from_secs(60);

/// What the stream is, from its parameter sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    pub codec: VideoCodec,
    /// MSE codec string, e.g. `avc1.4d401e`.
    pub codec_string: String,
    pub width: u32,
    pub height: u32,
}

impl MediaInfo {
    /// MIME type for `MediaSource.addSourceBuffer`.
    pub fn mime(&self) -> String {
        format!("video/mp4; codecs=\"{}\"", self.codec_string)
    }
}

/// An fMP4 init segment (`ftyp` + `moov`). `version` counts parameter-set changes from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    pub version: u32,
    pub data: Bytes,
}

/// What viewers receive, in order: an init segment, then fragments (a new init segment
/// whenever the parameter sets change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubItem {
    Init(InitSegment),
    Fragment(Fragment),
}

/// Why a viewer gets no more items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ViewerEnd {
    #[error("the live stream ended")]
    Closed,
    #[error("the viewer fell behind {LAG_LIMIT} times within {LAG_WINDOW:?}")]
    TooSlow,
}

/// Fan-out point of one live stream; clones share it.
#[derive(Debug, Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    viewers: watch::Sender<usize>,
    hls: Mutex<Option<Arc<HlsStream>>>,
}

#[derive(Debug)]
struct State {
    /// `None` once closed.
    tx: Option<broadcast::Sender<HubItem>>,
    init: Option<InitSegment>,
    info: Option<MediaInfo>,
    gop: Vec<Fragment>,
    gop_bytes: usize,
    /// The cache holds a whole GOP from its key frame.
    gop_valid: bool,
    fragments: u64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A hub whose fan-out queue holds `capacity` items (at least 2).
    pub fn with_capacity(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(2));
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    tx: Some(tx),
                    init: None,
                    info: None,
                    gop: Vec::new(),
                    gop_bytes: 0,
                    gop_valid: false,
                    fragments: 0,
                }),
                viewers: watch::Sender::new(0),
                hls: Mutex::new(None),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether two handles are the same hub.
    pub fn same(&self, other: &Hub) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Sets a new init segment (new parameter sets) and sends it to every viewer. The GOP
    /// cache restarts: fragments before it do not decode with it.
    pub fn publish_init(&self, data: Bytes, info: MediaInfo) -> u32 {
        let mut s = self.state();
        let version = s.init.as_ref().map_or(1, |i| i.version + 1);
        let init = InitSegment { version, data };
        s.init = Some(init.clone());
        s.info = Some(info);
        s.gop.clear();
        s.gop_bytes = 0;
        s.gop_valid = false;
        if let Some(tx) = &s.tx {
            let _ = tx.send(HubItem::Init(init));
        }
        version
    }

    /// Sends a fragment to every viewer and keeps it in the GOP cache.
    pub fn publish(&self, fragment: Fragment) {
        let mut s = self.state();
        s.fragments += 1;
        if fragment.key {
            s.gop.clear();
            s.gop_bytes = 0;
            s.gop_valid = s.init.is_some();
        }
        if s.gop_valid {
            if s.gop.len() >= MAX_GOP_FRAGMENTS || s.gop_bytes + fragment.data.len() > MAX_GOP_BYTES
            {
                s.gop.clear();
                s.gop_bytes = 0;
                s.gop_valid = false;
            } else {
                s.gop_bytes += fragment.data.len();
                s.gop.push(fragment.clone());
            }
        }
        if let Some(tx) = &s.tx {
            // Without viewers the send fails and the fragment is simply dropped.
            let _ = tx.send(HubItem::Fragment(fragment));
        }
    }

    /// Ends the stream: viewers get what is queued, then [`ViewerEnd::Closed`].
    pub fn close(&self) {
        let mut s = self.state();
        s.tx = None;
        s.gop.clear();
        s.gop_bytes = 0;
        s.gop_valid = false;
    }

    pub fn is_closed(&self) -> bool {
        self.state().tx.is_none()
    }

    /// The current init segment, if parameter sets were seen.
    pub fn init(&self) -> Option<InitSegment> {
        self.state().init.clone()
    }

    /// Codec and size, once known.
    pub fn info(&self) -> Option<MediaInfo> {
        self.state().info.clone()
    }

    /// Fragments published so far.
    pub fn fragments_published(&self) -> u64 {
        self.state().fragments
    }

    /// Fragments in the GOP cache (what a new viewer gets at once).
    pub fn cached_fragments(&self) -> usize {
        self.state().gop.len()
    }

    /// A new viewer: it gets the init segment, the cached GOP and then live fragments.
    pub fn subscribe(&self) -> Viewer {
        let s = self.state();
        let mut backlog = VecDeque::new();
        let rx = s.tx.as_ref().map(|tx| tx.subscribe());
        if rx.is_some()
            && let Some(init) = &s.init
        {
            backlog.push_back(HubItem::Init(init.clone()));
            if s.gop_valid {
                backlog.extend(s.gop.iter().cloned().map(HubItem::Fragment));
            }
        }
        drop(s);
        self.shared.viewers.send_modify(|n| *n += 1);
        Viewer {
            backlog,
            rx,
            init_version: None,
            need_key: true,
            lags: VecDeque::new(),
            skipped: 0,
            hub: self.clone(),
        }
    }

    /// Viewers connected now (HLS counts as one while a player polls it).
    pub fn viewers(&self) -> usize {
        *self.shared.viewers.borrow()
    }

    /// Follows the viewer count.
    pub fn watch_viewers(&self) -> watch::Receiver<usize> {
        self.shared.viewers.subscribe()
    }

    /// Resolves once nobody has watched for `idle` without a break (at once counting from
    /// now if nobody watches now). For `media.idle_timeout`: the session owner sends BYE.
    pub async fn idle_for(&self, idle: Duration) {
        let mut rx = self.watch_viewers();
        loop {
            // The sender lives in `self`, so these cannot fail.
            let _ = rx.wait_for(|n| *n == 0).await;
            tokio::select! {
                _ = tokio::time::sleep(idle) => return,
                r = rx.changed() => if r.is_err() { return },
            }
        }
    }

    /// The running HLS segmenter of this hub, started on first use.
    pub fn hls(&self) -> Arc<HlsStream> {
        let mut slot = self.shared.hls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = slot.as_ref().filter(|h| !h.is_finished()) {
            return h.clone();
        }
        let h = HlsStream::start(self);
        *slot = Some(h.clone());
        h
    }

    /// The HLS segmenter if one is running (players are polling).
    pub fn running_hls(&self) -> Option<Arc<HlsStream>> {
        let slot = self.shared.hls.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().filter(|h| !h.is_finished()).cloned()
    }

    /// Forgets `hls` if it is still the hub's segmenter (it stopped).
    pub(super) fn clear_hls(&self, hls: &Arc<HlsStream>) {
        let mut slot = self.shared.hls.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|h| Arc::ptr_eq(h, hls)) {
            *slot = None;
        }
    }

    /// After a lag: a receiver at the live edge, and the current init if the viewer has not
    /// had it.
    fn resync(
        &self,
        init_version: Option<u32>,
    ) -> (Option<broadcast::Receiver<HubItem>>, Option<InitSegment>) {
        let s = self.state();
        let rx = s.tx.as_ref().map(|tx| tx.subscribe());
        let init = s
            .init
            .as_ref()
            .filter(|i| Some(i.version) != init_version)
            .cloned();
        (rx, init)
    }
}

/// One viewer's position in the stream; dropping it leaves.
#[derive(Debug)]
pub struct Viewer {
    backlog: VecDeque<HubItem>,
    rx: Option<broadcast::Receiver<HubItem>>,
    /// Version of the last init segment handed out.
    init_version: Option<u32>,
    /// Fragments are skipped until a key frame.
    need_key: bool,
    lags: VecDeque<Instant>,
    skipped: u64,
    hub: Hub,
}

impl Viewer {
    /// Next item: an init segment before any fragment, and after an init or a lag the first
    /// fragment is a key frame.
    pub async fn next(&mut self) -> Result<HubItem, ViewerEnd> {
        loop {
            let item = match self.backlog.pop_front() {
                Some(item) => item,
                None => {
                    let Some(rx) = self.rx.as_mut() else {
                        return Err(ViewerEnd::Closed);
                    };
                    match rx.recv().await {
                        Ok(item) => item,
                        Err(broadcast::error::RecvError::Closed) => {
                            self.rx = None;
                            return Err(ViewerEnd::Closed);
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            self.lagged(n)?;
                            continue;
                        }
                    }
                }
            };
            if let Some(item) = self.admit(item) {
                return Ok(item);
            }
        }
    }

    /// Fragments skipped because this viewer fell behind (or joined mid-GOP).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    fn admit(&mut self, item: HubItem) -> Option<HubItem> {
        match &item {
            HubItem::Init(init) => {
                self.init_version = Some(init.version);
                self.need_key = true;
            }
            HubItem::Fragment(f) => {
                if self.init_version.is_none() || (self.need_key && !f.key) {
                    self.skipped += 1;
                    return None;
                }
                self.need_key = false;
            }
        }
        Some(item)
    }

    fn lagged(&mut self, n: u64) -> Result<(), ViewerEnd> {
        self.skipped += n;
        let now = Instant::now();
        while self
            .lags
            .front()
            .is_some_and(|t| now.duration_since(*t) > LAG_WINDOW)
        {
            self.lags.pop_front();
        }
        self.lags.push_back(now);
        if self.lags.len() >= LAG_LIMIT {
            self.rx = None;
            return Err(ViewerEnd::TooSlow);
        }
        // Jump to the live edge rather than replaying stale fragments, then wait for a key.
        let (rx, init) = self.hub.resync(self.init_version);
        self.rx = rx;
        self.backlog.clear();
        if let Some(init) = init {
            self.backlog.push_back(HubItem::Init(init));
        }
        self.need_key = true;
        tracing::debug!(
            skipped = n,
            "live viewer fell behind; skipping to the next key frame"
        );
        Ok(())
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.hub
            .shared
            .viewers
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> MediaInfo {
        MediaInfo {
            codec: VideoCodec::H264,
            codec_string: "avc1.4d401e".into(),
            width: 640,
            height: 360,
        }
    }

    fn frag(sequence: u32, key: bool) -> Fragment {
        Fragment {
            sequence,
            decode_time: u64::from(sequence) * 3600,
            duration: 3600,
            key,
            data: Bytes::from(vec![sequence as u8; 10]),
        }
    }

    fn seq(item: &HubItem) -> Option<u32> {
        match item {
            HubItem::Fragment(f) => Some(f.sequence),
            HubItem::Init(_) => None,
        }
    }

    /// Publishes fragments `from..to` with a key frame every `gop`.
    fn feed(hub: &Hub, from: u32, to: u32, gop: u32) {
        for i in from..to {
            hub.publish(frag(i, i % gop == 0));
        }
    }

    #[tokio::test]
    async fn new_viewer_gets_init_then_cached_gop_then_live() {
        let hub = Hub::new();
        hub.publish(frag(0, true)); // before any init: not cached
        hub.publish_init(Bytes::from_static(b"init"), info());
        feed(&hub, 10, 17, 5); // key at 10 and 15
        assert_eq!(hub.cached_fragments(), 2);
        let mut v = hub.subscribe();
        assert_eq!(
            v.next().await.unwrap(),
            HubItem::Init(InitSegment {
                version: 1,
                data: Bytes::from_static(b"init")
            })
        );
        assert_eq!(seq(&v.next().await.unwrap()), Some(15));
        assert_eq!(seq(&v.next().await.unwrap()), Some(16));
        hub.publish(frag(17, false));
        assert_eq!(seq(&v.next().await.unwrap()), Some(17));
        assert_eq!(hub.viewers(), 1);
    }

    #[tokio::test]
    async fn viewer_joining_before_first_key_frame_waits_for_it() {
        let hub = Hub::new();
        let mut v = hub.subscribe();
        hub.publish_init(Bytes::from_static(b"i"), info());
        hub.publish(frag(1, false));
        hub.publish(frag(2, true));
        assert!(matches!(v.next().await.unwrap(), HubItem::Init(_)));
        assert_eq!(seq(&v.next().await.unwrap()), Some(2));
        assert_eq!(v.skipped(), 1);
    }

    #[tokio::test]
    async fn new_parameter_sets_reach_viewers_and_reset_the_cache() {
        let hub = Hub::new();
        hub.publish_init(Bytes::from_static(b"a"), info());
        feed(&hub, 0, 3, 10);
        let mut v = hub.subscribe();
        assert_eq!(hub.publish_init(Bytes::from_static(b"b"), info()), 2);
        assert_eq!(hub.cached_fragments(), 0);
        hub.publish(frag(3, true));
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(v.next().await.unwrap());
        }
        let versions: Vec<Option<u32>> = got
            .iter()
            .map(|i| match i {
                HubItem::Init(i) => Some(i.version),
                HubItem::Fragment(_) => None,
            })
            .collect();
        assert_eq!(versions, [Some(1), None, None, None, Some(2), None]);
        assert_eq!(seq(&got[5]), Some(3));
    }

    /// Polls `v.next()` and, once it waits at the live edge, publishes `then`.
    async fn next_then_publish(
        v: &mut Viewer,
        hub: &Hub,
        then: Fragment,
    ) -> Result<HubItem, ViewerEnd> {
        let (r, ()) = tokio::join!(v.next(), async {
            tokio::task::yield_now().await;
            hub.publish(then);
        });
        r
    }

    #[tokio::test]
    async fn a_lagging_viewer_skips_to_the_next_key_frame() {
        let hub = Hub::with_capacity(8);
        hub.publish_init(Bytes::from_static(b"i"), info());
        hub.publish(frag(0, true));
        let mut v = hub.subscribe();
        assert!(matches!(v.next().await.unwrap(), HubItem::Init(_)));
        assert_eq!(seq(&v.next().await.unwrap()), Some(0));
        // 21 fragments while the viewer does not read: it falls out of the 8-slot queue.
        feed(&hub, 1, 22, 10); // keys at 10 and 20 are overrun too
        let got = next_then_publish(&mut v, &hub, frag(30, true)).await;
        assert_eq!(seq(&got.unwrap()), Some(30));
        assert!(v.skipped() >= 13, "skipped {}", v.skipped());
        hub.publish(frag(31, false));
        assert_eq!(seq(&v.next().await.unwrap()), Some(31));
    }

    #[tokio::test]
    async fn a_viewer_that_lags_repeatedly_is_dropped() {
        let hub = Hub::with_capacity(4);
        hub.publish_init(Bytes::from_static(b"i"), info());
        let mut v = hub.subscribe();
        assert!(matches!(v.next().await.unwrap(), HubItem::Init(_)));
        let mut results = Vec::new();
        for round in 0..LAG_LIMIT as u32 {
            feed(&hub, round * 100, round * 100 + 10, 100);
            let r = next_then_publish(&mut v, &hub, frag(round * 100 + 50, true)).await;
            results.push(r.map(|i| seq(&i)));
        }
        let expected_ok: Vec<_> = (0..LAG_LIMIT as u32 - 1)
            .map(|r| Ok(Some(r * 100 + 50)))
            .collect();
        assert_eq!(results[..LAG_LIMIT - 1], expected_ok[..]);
        assert_eq!(results[LAG_LIMIT - 1], Err(ViewerEnd::TooSlow));
    }

    #[tokio::test]
    async fn close_ends_viewers_after_what_was_queued() {
        let hub = Hub::new();
        hub.publish_init(Bytes::from_static(b"i"), info());
        let mut v = hub.subscribe();
        hub.publish(frag(0, true));
        hub.close();
        assert!(matches!(v.next().await.unwrap(), HubItem::Init(_)));
        assert_eq!(seq(&v.next().await.unwrap()), Some(0));
        assert_eq!(v.next().await, Err(ViewerEnd::Closed));
        assert_eq!(hub.subscribe().next().await, Err(ViewerEnd::Closed));
    }

    #[tokio::test]
    async fn gop_cache_is_bounded() {
        let hub = Hub::new();
        hub.publish_init(Bytes::from_static(b"i"), info());
        feed(&hub, 0, MAX_GOP_FRAGMENTS as u32 + 5, u32::MAX);
        assert_eq!(hub.cached_fragments(), 0, "oversized GOP is not cached");
        hub.publish(frag(1, true));
        assert_eq!(hub.cached_fragments(), 1);
    }

    #[tokio::test]
    async fn viewer_count_and_idle_notification() {
        let ms = Duration::from_millis;
        let hub = Hub::new();
        let idle = tokio::spawn({
            let hub = hub.clone();
            async move { hub.idle_for(ms(1000)).await }
        });
        let a = hub.subscribe();
        let b = hub.subscribe();
        assert_eq!(hub.viewers(), 2);
        tokio::time::sleep(ms(1200)).await;
        assert!(!idle.is_finished(), "watched the whole time");
        drop(a);
        assert_eq!(hub.viewers(), 1);
        drop(b);
        assert_eq!(hub.viewers(), 0);
        tokio::time::sleep(ms(300)).await;
        let c = hub.subscribe(); // a viewer in between restarts the clock
        tokio::time::sleep(ms(50)).await;
        drop(c);
        tokio::time::sleep(ms(500)).await;
        assert!(!idle.is_finished(), "idle for only 500 ms");
        tokio::time::timeout(ms(1500), idle)
            .await
            .expect("idle notification within 1.5 s more")
            .unwrap();
    }
}
