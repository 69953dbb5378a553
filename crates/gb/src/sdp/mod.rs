//! SDP (RFC 4566) as GB/T 28181 uses it: the INVITE offer and the device's answer, with
//! the GB lines `y=` (SSRC) and `f=` (stream format), TCP media (`TCP/RTP/AVP`,
//! `a=setup`, `a=connection`) and playback/download attributes.
//!
//! Parsing is tolerant of what vendors answer: LF-only line ends, blank lines, lines in
//! odd order, a missing `y=` or `t=`, unknown lines and attributes (kept, in order, and
//! printed back). A typed attribute whose value does not parse is kept raw.

mod build;
mod format;
mod ssrc;

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use build::{Answer, MediaTransport, Offer, PT_H264, PT_H265, PT_MPEG4, PT_PS};
pub use format::{AudioFormat, MediaFormat, VideoFormat};
pub use ssrc::{Ssrc, SsrcError, StreamKind};

/// Largest SDP accepted; GB SDPs are a few hundred bytes.
pub const MAX_SDP_LEN: usize = 16 * 1024;

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sdp {
    /// `v=`, always 0 (assumed when missing).
    pub version: u32,
    /// `o=`.
    pub origin: Origin,
    /// `s=`: what the session is for.
    pub session_name: SessionName,
    /// `u=`: for playback/download, `<channel id>:0`.
    pub uri: Option<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// `t=`: start and stop time (Unix seconds for playback; `0 0` for live).
    pub timing: Option<Timing>,
    /// Session-level lines of other kinds (`i=`, `b=`, ...), in order.
    pub other: Vec<Line>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// The `m=` sections (GB uses one, `video`).
    pub media: Vec<Media>,
    /// `y=`: the SSRC of the stream.
    pub ssrc: Option<Ssrc>,
    /// `f=`: stream format.
    pub format: Option<MediaFormat>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The sender's 20-digit ID in GB usage.
    pub username: String,
    /// Session ID.
    pub session_id: String,
    /// Session version.
    pub session_version: String,
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The sender's address.
    pub address: String,
}

/// `c=<nettype> <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// Where media goes (for an offer) or comes from (for an answer).
    pub address: String,
}

/// `t=<start> <stop>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Start, Unix seconds in GB playback (0 for live).
    pub start: u64,
    /// Stop, Unix seconds in GB playback (0 for live).
    pub stop: u64,
}

/// `s=`: the kind of session GB/T 28181 asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionName {
    /// Live view.
    Play,
    /// Playback of a recording.
    Playback,
    /// Download of a recording.
    Download,
    /// Voice broadcast / talk.
    Talk,
    /// Anything else, as sent.
    Other(String),
}

impl SessionName {
    /// The text after `s=`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Play => "Play",
            Self::Playback => "Playback",
            Self::Download => "Download",
            Self::Talk => "Talk",
            Self::Other(s) => s,
        }
    }

    fn parse(s: &str) -> Self {
        [Self::Play, Self::Playback, Self::Download, Self::Talk]
            .into_iter()
            .find(|n| n.as_str().eq_ignore_ascii_case(s))
            .unwrap_or_else(|| Self::Other(s.to_owned()))
    }
}

/// A line kept as it was: its type letter and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The type letter before `=`.
    pub kind: char,
    /// The text after `=`.
    pub value: String,
}

/// An `a=` line not modelled by a typed field: `a=name` or `a=name:value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    /// Name before `:`.
    pub name: String,
    /// Text after the first `:`, if there was one.
    pub value: Option<String>,
}

/// The transport protocol of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MediaProto {
    /// `RTP/AVP`: RTP over UDP.
    RtpAvp,
    /// `TCP/RTP/AVP`: RTP over TCP (RFC 4571 framing), the GB spelling.
    TcpRtpAvp,
    /// `RTP/AVP/TCP`: the same, as some devices spell it.
    RtpAvpTcp,
    /// Anything else, as sent.
    Other(String),
}

impl MediaProto {
    /// The text in the `m=` line.
    pub fn as_str(&self) -> &str {
        match self {
            Self::RtpAvp => "RTP/AVP",
            Self::TcpRtpAvp => "TCP/RTP/AVP",
            Self::RtpAvpTcp => "RTP/AVP/TCP",
            Self::Other(s) => s,
        }
    }

    /// True for the TCP spellings.
    pub fn is_tcp(&self) -> bool {
        matches!(self, Self::TcpRtpAvp | Self::RtpAvpTcp)
    }

    fn parse(s: &str) -> Self {
        [Self::RtpAvp, Self::TcpRtpAvp, Self::RtpAvpTcp]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .unwrap_or_else(|| Self::Other(s.to_owned()))
    }
}

/// `a=recvonly|sendonly|sendrecv|inactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// `recvonly`: the platform's offer.
    RecvOnly,
    /// `sendonly`: the device's answer.
    SendOnly,
    /// `sendrecv`: talk.
    SendRecv,
    /// `inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecvOnly => "recvonly",
            Self::SendOnly => "sendonly",
            Self::SendRecv => "sendrecv",
            Self::Inactive => "inactive",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::RecvOnly,
            Self::SendOnly,
            Self::SendRecv,
            Self::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(s))
    }
}

/// `a=setup:` (RFC 4145): who opens the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Setup {
    /// This side connects.
    Active,
    /// This side listens.
    Passive,
    /// Either.
    ActPass,
    /// Neither (yet).
    HoldConn,
}

impl Setup {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
            Self::HoldConn => "holdconn",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Passive, Self::ActPass, Self::HoldConn]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<params>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtpMap {
    /// Payload type: 96 PS, 97 MPEG4, 98 H264, 100 H265 in GB usage.
    pub payload_type: u8,
    /// Encoding name (`PS`, `H264`, ...).
    pub encoding: String,
    /// Clock rate (90000 for video).
    pub clock_rate: u32,
    /// Encoding parameters (audio channels), if any.
    pub params: Option<String>,
}

impl RtpMap {
    /// An rtpmap with the 90 kHz video clock.
    pub fn video(payload_type: u8, encoding: &str) -> Self {
        Self {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate: 90_000,
            params: None,
        }
    }

    fn parse(v: &str) -> Option<Self> {
        let (pt, rest) = v.trim().split_once(char::is_whitespace)?;
        let mut parts = rest.trim().splitn(3, '/');
        let encoding = parts.next()?.trim();
        if encoding.is_empty() {
            return None;
        }
        Some(Self {
            payload_type: pt.parse().ok()?,
            encoding: encoding.to_owned(),
            clock_rate: parts.next()?.trim().parse().ok()?,
            params: parts.next().map(|p| p.trim().to_owned()),
        })
    }
}

impl fmt::Display for RtpMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(p) = &self.params {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// `video` or `audio`.
    pub kind: String,
    /// Port: where the offerer receives, or where the answerer sends from / listens.
    pub port: u16,
    /// Transport.
    pub proto: MediaProto,
    /// Payload types offered or chosen.
    pub formats: Vec<u8>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// Direction attribute.
    pub direction: Option<Direction>,
    /// `a=rtpmap:` lines.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=setup:` for TCP media.
    pub setup: Option<Setup>,
    /// `a=connection:` (`new` or `existing`) for TCP media.
    pub tcp_connection: Option<String>,
    /// `a=downloadspeed:` (download sessions).
    pub download_speed: Option<u32>,
    /// `a=filesize:` (download sessions), bytes.
    pub file_size: Option<u64>,
    /// Other `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// Other lines in this section (`b=`, `i=`, an unreadable `y=`, ...), in order.
    pub other: Vec<Line>,
}

impl Media {
    /// A video section with no attributes.
    pub fn video(port: u16, proto: MediaProto, formats: Vec<u8>) -> Self {
        Self {
            kind: "video".to_owned(),
            port,
            proto,
            formats,
            connection: None,
            direction: None,
            rtpmaps: Vec::new(),
            setup: None,
            tcp_connection: None,
            download_speed: None,
            file_size: None,
            attributes: Vec::new(),
            other: Vec::new(),
        }
    }

    /// The rtpmap for payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == pt)
    }

    /// The value of the first other attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .and_then(|a| a.value.as_deref())
    }
}

/// Why an SDP could not be read; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Larger than [`MAX_SDP_LEN`].
    #[error("SDP too large: {0} bytes")]
    TooLarge(usize),
    /// A line that does not follow its grammar.
    #[error("SDP line {line}: {reason}")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// Which rule failed.
        reason: &'static str,
    },
    /// A required line is absent.
    #[error("SDP has no {0} line")]
    Missing(&'static str),
}

impl Sdp {
    /// Reads an SDP body from bytes (non-UTF-8 bytes become U+FFFD; SDP is ASCII in
    /// practice).
    pub fn parse_bytes(body: &[u8]) -> Result<Self, SdpError> {
        if body.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge(body.len()));
        }
        String::from_utf8_lossy(body).parse()
    }

    /// The SSRC from `y=`.
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.ssrc
    }

    /// The first `m=video` section.
    pub fn video(&self) -> Option<&Media> {
        self.media
            .iter()
            .find(|m| m.kind.eq_ignore_ascii_case("video"))
    }

    /// Where the video goes to / comes from: the media `c=` address, else the session
    /// one, else the origin's.
    pub fn video_address(&self) -> Option<&str> {
        self.video()
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
            .map(|c| c.address.as_str())
            .or_else(|| Some(self.origin.address.as_str()).filter(|a| !a.is_empty()))
    }

    /// The transport of the video section, from this SDP's writer's view: `TcpPassive`
    /// when it says `a=setup:passive` (or no setup), `TcpActive` for `a=setup:active`.
    pub fn video_transport(&self) -> Option<MediaTransport> {
        let m = self.video()?;
        Some(if !m.proto.is_tcp() {
            MediaTransport::Udp
        } else if m.setup == Some(Setup::Active) {
            MediaTransport::TcpActive
        } else {
            MediaTransport::TcpPassive
        })
    }
}

impl FromStr for Sdp {
    type Err = SdpError;

    fn from_str(text: &str) -> Result<Self, SdpError> {
        if text.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge(text.len()));
        }
        let mut version = None;
        let mut origin = None;
        let mut session_name = None;
        let mut uri = None;
        let mut connection = None;
        let mut timing = None;
        let mut other = Vec::new();
        let mut attributes = Vec::new();
        let mut media: Vec<Media> = Vec::new();
        let mut ssrc = None;
        let mut format = None;

        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
            if line.is_empty() {
                continue;
            }
            let invalid = |reason| SdpError::Invalid {
                line: line_no,
                reason,
            };
            let mut chars = line.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(invalid("expected <letter>=<value>"));
            };
            if !kind.is_ascii_alphabetic() {
                return Err(invalid("expected <letter>=<value>"));
            }
            let value = line[2..].trim();
            match kind {
                'v' => version = Some(value.parse().map_err(|_| invalid("v= is not a number"))?),
                'o' => origin = Some(parse_origin(value).ok_or_else(|| invalid("bad o= line"))?),
                's' => session_name = Some(SessionName::parse(value)),
                'u' => uri = Some(value.to_owned()),
                't' => timing = Some(parse_timing(value).ok_or_else(|| invalid("bad t= line"))?),
                'm' => media.push(parse_media(value).ok_or_else(|| invalid("bad m= line"))?),
                'c' => {
                    let c = parse_connection(value).ok_or_else(|| invalid("bad c= line"))?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => connection = Some(c),
                    }
                }
                'y' if value.parse::<Ssrc>().is_ok() => ssrc = value.parse().ok(),
                'f' => format = Some(MediaFormat::new(value)),
                'a' => match media.last_mut() {
                    Some(m) => media_attribute(m, value),
                    None => attributes.push(split_attribute(value)),
                },
                _ => {
                    let l = Line {
                        kind,
                        value: value.to_owned(),
                    };
                    match media.last_mut() {
                        Some(m) => m.other.push(l),
                        None => other.push(l),
                    }
                }
            }
        }
        Ok(Self {
            version: version.unwrap_or(0),
            origin: origin.ok_or(SdpError::Missing("o="))?,
            session_name: session_name.ok_or(SdpError::Missing("s="))?,
            uri,
            connection,
            timing,
            other,
            attributes,
            media,
            ssrc,
            format,
        })
    }
}

fn parse_origin(v: &str) -> Option<Origin> {
    let f: Vec<&str> = v.split_whitespace().collect();
    let [
        username,
        session_id,
        session_version,
        net_type,
        addr_type,
        address,
    ] = f[..]
    else {
        return None;
    };
    Some(Origin {
        username: username.to_owned(),
        session_id: session_id.to_owned(),
        session_version: session_version.to_owned(),
        net_type: net_type.to_owned(),
        addr_type: addr_type.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_connection(v: &str) -> Option<Connection> {
    let f: Vec<&str> = v.split_whitespace().collect();
    let [net_type, addr_type, address] = f[..] else {
        return None;
    };
    Some(Connection {
        net_type: net_type.to_owned(),
        addr_type: addr_type.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_timing(v: &str) -> Option<Timing> {
    let mut f = v.split_whitespace();
    let t = Timing {
        start: f.next()?.parse().ok()?,
        stop: f.next()?.parse().ok()?,
    };
    f.next().is_none().then_some(t)
}

fn parse_media(v: &str) -> Option<Media> {
    let mut f = v.split_whitespace();
    let kind = f.next()?;
    // `port/count` is legal SDP; GB never uses the count.
    let port = f.next()?.split('/').next()?.parse().ok()?;
    let proto = MediaProto::parse(f.next()?);
    let formats = f.map(|pt| pt.parse().ok()).collect::<Option<Vec<u8>>>()?;
    let mut m = Media::video(port, proto, formats);
    m.kind = kind.to_owned();
    Some(m)
}

fn split_attribute(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((name, value)) => Attribute {
            name: name.trim().to_owned(),
            value: Some(value.trim().to_owned()),
        },
        None => Attribute {
            name: v.trim().to_owned(),
            value: None,
        },
    }
}

/// Files an `a=` line of a media section into its typed field, or keeps it raw.
fn media_attribute(m: &mut Media, v: &str) {
    let attr = split_attribute(v);
    let name = attr.name.to_ascii_lowercase();
    let value = attr.value.as_deref();
    let taken = match (name.as_str(), value) {
        (dir, None) => Direction::parse(dir)
            .map(|d| m.direction = Some(d))
            .is_some(),
        ("rtpmap", Some(v)) => RtpMap::parse(v).map(|r| m.rtpmaps.push(r)).is_some(),
        ("setup", Some(v)) => Setup::parse(v).map(|s| m.setup = Some(s)).is_some(),
        ("connection", Some(v)) if !v.is_empty() => {
            m.tcp_connection = Some(v.to_owned());
            true
        }
        ("downloadspeed", Some(v)) => v.parse().map(|s| m.download_speed = Some(s)).is_ok(),
        ("filesize", Some(v)) => v.parse().map(|s| m.file_size = Some(s)).is_ok(),
        _ => false,
    };
    if !taken {
        m.attributes.push(attr);
    }
}

impl fmt::Display for Sdp {
    /// Prints with CRLF line ends, in RFC 4566 order, `y=` and `f=` last as GB does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v={}\r\n", self.version)?;
        write!(
            f,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
        )?;
        write!(f, "s={}\r\n", self.session_name.as_str())?;
        if let Some(u) = &self.uri {
            write!(f, "u={u}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write_connection(f, c)?;
        }
        if let Some(t) = &self.timing {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
        }
        for l in &self.other {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
        for a in &self.attributes {
            write_attribute(f, a)?;
        }
        for m in &self.media {
            write_media(f, m)?;
        }
        if let Some(y) = self.ssrc {
            write!(f, "y={y}\r\n")?;
        }
        if let Some(fmt_line) = &self.format {
            write!(f, "f={}\r\n", fmt_line.raw)?;
        }
        Ok(())
    }
}

fn write_connection(f: &mut fmt::Formatter<'_>, c: &Connection) -> fmt::Result {
    write!(f, "c={} {} {}\r\n", c.net_type, c.addr_type, c.address)
}

fn write_attribute(f: &mut fmt::Formatter<'_>, a: &Attribute) -> fmt::Result {
    match &a.value {
        Some(v) => write!(f, "a={}:{v}\r\n", a.name),
        None => write!(f, "a={}\r\n", a.name),
    }
}

fn write_media(f: &mut fmt::Formatter<'_>, m: &Media) -> fmt::Result {
    let mut line = format!("m={} {} {}", m.kind, m.port, m.proto.as_str());
    for pt in &m.formats {
        let _ = write!(line, " {pt}");
    }
    write!(f, "{line}\r\n")?;
    if let Some(c) = &m.connection {
        write_connection(f, c)?;
    }
    for l in &m.other {
        write!(f, "{}={}\r\n", l.kind, l.value)?;
    }
    if let Some(d) = m.direction {
        write!(f, "a={}\r\n", d.as_str())?;
    }
    for r in &m.rtpmaps {
        write!(f, "a=rtpmap:{r}\r\n")?;
    }
    if let Some(s) = m.setup {
        write!(f, "a=setup:{}\r\n", s.as_str())?;
    }
    if let Some(c) = &m.tcp_connection {
        write!(f, "a=connection:{c}\r\n")?;
    }
    if let Some(s) = m.download_speed {
        write!(f, "a=downloadspeed:{s}\r\n")?;
    }
    if let Some(s) = m.file_size {
        write!(f, "a=filesize:{s}\r\n")?;
    }
    for a in &m.attributes {
        write_attribute(f, a)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
