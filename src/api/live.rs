//! Live media endpoints over a session's [`Hub`]: fragmented MP4 over chunked HTTP, fMP4
//! over WebSocket (one binary message per fragment, init segment first) and HLS with fMP4
//! segments. Mount with `router.merge(live::routes(lookup))`; `lookup` maps a live session
//! id to its hub.
//!
//! - `GET /live/{id}.mp4`: init segment, then fragments from the last key frame on. A
//!   change of parameter sets ends the response (a progressive MP4 cannot change them);
//!   players reconnect.
//! - `GET /live/{id}/ws`: the same as WebSocket binary messages; a new init segment is sent
//!   when parameter sets change (re-create the `SourceBuffer`).
//! - `GET /live/{id}/info`: `{codec, codec_string, mime, width, height, viewers}` (503
//!   until the first parameter sets).
//! - `GET /live/{id}/index.m3u8`, `/live/{id}/init.mp4`, `/live/{id}/init-{v}.mp4`,
//!   `/live/{id}/seg-{n}.m4s`: HLS, segments of about 1 s cut at key frames. A playlist
//!   opened with a signed `?token=` names its files with the same token, so a player that
//!   cannot send headers fetches them too.
//!
//! The endless responses (`.mp4`, WebSocket) end when the session or API key they were
//! opened with ends ([`super::auth::watch`]): the `.mp4` body just ends, the WebSocket is
//! closed with 1008 and the reason. One opened with a signed `?token=` is not cut off when
//! the token expires.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::ApiError;
use super::auth::{CredentialWatch, StreamAuth};
use crate::platform::media::{Hub, HubItem, InitSegment, Viewer, ViewerEnd};

/// How long a new viewer waits for the stream's first init segment.
const FIRST_INIT_WAIT: Duration = Duration::from_secs(10);
/// How long the first playlist request waits for the first segment (about one GOP).
const PLAYLIST_WAIT: Duration = Duration::from_secs(10);
/// Largest message a WebSocket client may send us (it has nothing to say).
const MAX_WS_INCOMING: usize = 4096;

/// Finds the hub of a live session. The application's state implements it; so does any
/// `Fn(&str) -> Option<Hub>`.
pub trait LiveLookup: Clone + Send + Sync + 'static {
    fn hub(&self, session_id: &str) -> Option<Hub>;
}

impl<F> LiveLookup for F
where
    F: Fn(&str) -> Option<Hub> + Clone + Send + Sync + 'static,
{
    fn hub(&self, session_id: &str) -> Option<Hub> {
        self(session_id)
    }
}

/// The `/live/...` routes (no fallback, so it merges into a router that has one). Generic
/// over the outer router's state, so it merges before or after `with_state`.
pub fn routes<S, L>(lookup: L) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    L: LiveLookup,
{
    Router::new()
        .route("/live/{session}", get(mp4::<L>))
        .route("/live/{session}/ws", get(websocket::<L>))
        .route("/live/{session}/index.m3u8", get(playlist::<L>))
        .route("/live/{session}/info", get(info::<L>))
        .route("/live/{session}/{file}", get(hls_file::<L>))
        .with_state(lookup)
}

fn find(lookup: &impl LiveLookup, session: &str) -> Result<Hub, ApiError> {
    lookup
        .hub(session)
        .filter(|h| !h.is_closed())
        .ok_or_else(|| ApiError::NotFound(format!("live session {session} not found")))
}

/// Waits for the viewer's first item, which is always the init segment.
async fn first_init(viewer: &mut Viewer) -> Result<InitSegment, ApiError> {
    match tokio::time::timeout(FIRST_INIT_WAIT, viewer.next()).await {
        Ok(Ok(HubItem::Init(init))) => Ok(init),
        Ok(Ok(HubItem::Fragment(_))) => Err(ApiError::Internal(
            "live viewer got a fragment before the init segment".into(),
        )),
        Ok(Err(_)) => Err(ApiError::NotFound("live session ended".into())),
        Err(_) => Err(ApiError::Unavailable(
            "the live session has no video yet".into(),
        )),
    }
}

async fn mp4<L: LiveLookup>(
    State(lookup): State<L>,
    Path(file): Path<String>,
    auth: Option<Extension<StreamAuth>>,
) -> Result<Response, ApiError> {
    let session = file
        .strip_suffix(".mp4")
        .ok_or_else(|| ApiError::NotFound("no such route".into()))?;
    let watch = CredentialWatch::of(auth.as_deref());
    let mut viewer = find(&lookup, session)?.subscribe();
    let init = first_init(&mut viewer).await?;
    let fragments = futures_util::stream::unfold(viewer, |mut v| async move {
        match v.next().await {
            Ok(HubItem::Fragment(f)) => Some((Ok::<Bytes, Infallible>(f.data), v)),
            // New parameter sets or the end of the stream end the response.
            Ok(HubItem::Init(_)) | Err(_) => None,
        }
    });
    let body = futures_util::stream::once(async move { Ok(init.data) })
        .chain(fragments)
        .take_until(watch.ended());
    Ok((
        [(CONTENT_TYPE, "video/mp4"), (CACHE_CONTROL, "no-store")],
        Body::from_stream(body),
    )
        .into_response())
}

async fn websocket<L: LiveLookup>(
    State(lookup): State<L>,
    Path(session): Path<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    auth: Option<Extension<StreamAuth>>,
) -> Result<Response, ApiError> {
    // Unknown sessions are a 404 whether or not the request is a WebSocket upgrade.
    let hub = find(&lookup, &session)?;
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    // Subscribed before the upgrade so the viewer starts at the GOP cached now.
    let viewer = hub.subscribe();
    let watch = CredentialWatch::of(auth.as_deref());
    Ok(upgrade
        .max_message_size(MAX_WS_INCOMING)
        .on_upgrade(move |socket| serve_websocket(socket, viewer, watch)))
}

async fn serve_websocket(mut socket: WebSocket, mut viewer: Viewer, watch: CredentialWatch) {
    let ended = watch.ended();
    tokio::pin!(ended);
    let frame = loop {
        tokio::select! {
            why = &mut ended => break CloseFrame {
                // Policy violation: these credentials may no longer watch.
                code: 1008,
                reason: why.message().into(),
            },
            item = viewer.next() => {
                let data = match item {
                    Ok(HubItem::Init(i)) => i.data,
                    Ok(HubItem::Fragment(f)) => f.data,
                    Err(end) => break viewer_end_frame(end),
                };
                // A slow client holds this send; meanwhile its viewer falls behind and skips.
                if socket.send(Message::Binary(data)).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

fn viewer_end_frame(end: ViewerEnd) -> CloseFrame {
    match end {
        ViewerEnd::Closed => CloseFrame {
            code: 1000,
            reason: "live stream ended".into(),
        },
        ViewerEnd::TooSlow => CloseFrame {
            code: 1013,
            reason: "connection too slow for the stream".into(),
        },
    }
}

/// What a player needs before the first byte: the MSE type for `addSourceBuffer`.
async fn info<L: LiveLookup>(
    State(lookup): State<L>,
    Path(session): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hub = find(&lookup, &session)?;
    let info = hub
        .info()
        .ok_or_else(|| ApiError::Unavailable("the live session has no video yet".into()))?;
    Ok(Json(json!({
        "codec": format!("{:?}", info.codec),
        "codec_string": info.codec_string,
        "mime": info.mime(),
        "width": info.width,
        "height": info.height,
        "viewers": hub.viewers(),
    })))
}

async fn playlist<L: LiveLookup>(
    State(lookup): State<L>,
    Path(session): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let hls = find(&lookup, &session)?.hls();
    let mut text = hls
        .playlist(PLAYLIST_WAIT)
        .await
        .ok_or_else(|| ApiError::Unavailable("no HLS segment yet".into()))?;
    if let Some(token) = playlist_token(query.as_deref()) {
        text = with_token(&text, token);
    }
    Ok((
        [
            (CONTENT_TYPE, "application/vnd.apple.mpegurl"),
            (CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response())
}

/// The `?token=` a playlist was opened with, when it has the form of a signed live token
/// (`<expiry>.<hex>`, see [`crate::auth::LiveSigner`]). The auth middleware has checked it;
/// the form is checked here so that nothing else ends up in the playlist.
fn playlist_token(query: Option<&str>) -> Option<&str> {
    let token = query?.split('&').find_map(|kv| kv.strip_prefix("token="))?;
    let (expiry, tag) = token.split_once('.')?;
    let ok = token.len() <= 128
        && !expiry.is_empty()
        && expiry.bytes().all(|b| b.is_ascii_digit())
        && !tag.is_empty()
        && tag.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(token)
}

/// `playlist` with `token=` on every URI in it: URI lines and every `URI="..."` attribute
/// (`EXT-X-MAP` or any other tag), so a player without headers (hls.js, ffplay, Safari)
/// fetches init segments and segments with the token it opened the playlist with.
fn with_token(playlist: &str, token: &str) -> String {
    fn push_uri(out: &mut String, uri: &str, token: &str) {
        out.push_str(uri);
        out.push(if uri.contains('?') { '&' } else { '?' });
        out.push_str("token=");
        out.push_str(token);
    }
    let mut out = String::with_capacity(playlist.len() + 16 * (token.len() + 8));
    for line in playlist.lines() {
        if line.starts_with('#') {
            let mut rest = line;
            while let Some(i) = rest.find("URI=\"") {
                let (head, tail) = rest.split_at(i + "URI=\"".len());
                out.push_str(head);
                let end = tail.find('"').unwrap_or(tail.len());
                push_uri(&mut out, &tail[..end], token);
                rest = &tail[end..];
            }
            out.push_str(rest);
        } else if !line.is_empty() {
            push_uri(&mut out, line, token);
        }
        out.push('\n');
    }
    out
}

/// What an HLS file name asks for.
#[derive(Debug, PartialEq, Eq)]
enum HlsFile {
    Init(Option<u32>),
    Segment(u64),
}

fn parse_hls_file(name: &str) -> Option<HlsFile> {
    if name == "init.mp4" {
        return Some(HlsFile::Init(None));
    }
    if let Some(v) = name
        .strip_prefix("init-")
        .and_then(|r| r.strip_suffix(".mp4"))
    {
        return v.parse().ok().map(|v| HlsFile::Init(Some(v)));
    }
    let n = name.strip_prefix("seg-")?.strip_suffix(".m4s")?;
    n.parse().ok().map(HlsFile::Segment)
}

async fn hls_file<L: LiveLookup>(
    State(lookup): State<L>,
    Path((session, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let hub = find(&lookup, &session)?;
    let what =
        parse_hls_file(&file).ok_or_else(|| ApiError::NotFound(format!("no such file {file}")))?;
    let data = match (what, hub.running_hls()) {
        (HlsFile::Init(v), Some(hls)) => hls.init(v),
        (HlsFile::Init(None), None) => hub.init().map(|i| i.data),
        (HlsFile::Segment(n), Some(hls)) => hls.segment(n),
        _ => None,
    }
    .ok_or_else(|| ApiError::NotFound(format!("{file} is not (or no longer) available")))?;
    Ok((
        [(CONTENT_TYPE, "video/mp4"), (CACHE_CONTROL, "max-age=60")],
        data,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[test]
    fn a_signed_playlist_names_its_files_with_the_token() {
        let playlist = "#EXTM3U\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXTINF:1.000,\nseg-9.m4s\n\
                        #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n#EXTINF:1.000,\nseg-10.m4s\n";
        assert_eq!(
            with_token(playlist, "17.ab"),
            "#EXTM3U\n#EXT-X-MAP:URI=\"init-1.mp4?token=17.ab\"\n#EXTINF:1.000,\n\
             seg-9.m4s?token=17.ab\n#EXT-X-DISCONTINUITY\n\
             #EXT-X-MAP:URI=\"init-2.mp4?token=17.ab\"\n#EXTINF:1.000,\nseg-10.m4s?token=17.ab\n"
        );
    }

    #[test]
    fn hls_file_names() {
        assert_eq!(parse_hls_file("init.mp4"), Some(HlsFile::Init(None)));
        assert_eq!(parse_hls_file("init-3.mp4"), Some(HlsFile::Init(Some(3))));
        assert_eq!(parse_hls_file("seg-42.m4s"), Some(HlsFile::Segment(42)));
        for bad in [
            "seg-.m4s",
            "seg-1.mp4",
            "init-x.mp4",
            "../seg-1.m4s",
            "index.m3u8",
        ] {
            assert_eq!(parse_hls_file(bad), None, "{bad}");
        }
    }

    #[test]
    fn playlist_uris_carry_the_token() {
        let playlist = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n\
                        #EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-MAP:URI=\"init-1.mp4\"\n\
                        #EXTINF:1.000,\nseg-4.m4s\n#EXT-X-DISCONTINUITY\n\
                        #EXT-X-MAP:URI=\"init-2.mp4\",BYTERANGE=\"10@0\"\n\
                        #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p-6.m4s\"\n\
                        #EXTINF:1.000,\nseg-5.m4s?x=1\n#EXT-X-ENDLIST\n";
        assert_eq!(
            with_token(playlist, "99.ab"),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n\
             #EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-MAP:URI=\"init-1.mp4?token=99.ab\"\n\
             #EXTINF:1.000,\nseg-4.m4s?token=99.ab\n#EXT-X-DISCONTINUITY\n\
             #EXT-X-MAP:URI=\"init-2.mp4?token=99.ab\",BYTERANGE=\"10@0\"\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p-6.m4s?token=99.ab\"\n\
             #EXTINF:1.000,\nseg-5.m4s?x=1&token=99.ab\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn only_a_well_formed_token_goes_into_the_playlist() {
        assert_eq!(playlist_token(Some("token=17.a0f")), Some("17.a0f"));
        assert_eq!(playlist_token(Some("x=1&token=17.a0f")), Some("17.a0f"));
        let long = format!("token=1.{}", "a".repeat(200));
        for bad in [
            "token=17.a0f%0A%23EXT-X-ENDLIST",
            "token=17.a0f\"",
            "token=.a0f",
            "token=17.",
            "token=17",
            "token=x.a0f",
            "tokens=17.a0f",
            long.as_str(),
        ] {
            assert_eq!(playlist_token(Some(bad)), None, "{bad}");
        }
        assert_eq!(playlist_token(None), None);
    }

    #[tokio::test]
    async fn unknown_session_is_a_json_404() {
        // Merged into an application router that has its own state, before `with_state`.
        let app = Router::new()
            .route(
                "/other",
                get(|State(n): State<u32>| async move { n.to_string() }),
            )
            .merge(routes(|_: &str| None::<Hub>))
            .with_state(7u32);
        for uri in [
            "/live/nope.mp4",
            "/live/nope/index.m3u8",
            "/live/nope/seg-1.m4s",
            "/live/nope/init.mp4",
        ] {
            let r = app
                .clone()
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{uri}");
            let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], "not_found", "{uri}");
        }
    }
}
