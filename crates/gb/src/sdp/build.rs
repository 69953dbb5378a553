//! Building the SDPs GB/T 28181 exchanges: the platform's INVITE offer (live, playback,
//! download) and a device's answer to it (used by the simulator).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{
    Connection, Direction, Media, MediaFormat, MediaProto, Origin, RtpMap, Sdp, SessionName, Setup,
    Ssrc, Timing,
};
use crate::id::DeviceId;

/// Payload type GB/T 28181 uses for MPEG-2 PS.
pub const PT_PS: u8 = 96;
/// Payload type for MPEG-4 elementary streams.
pub const PT_MPEG4: u8 = 97;
/// Payload type for H.264 elementary streams.
pub const PT_H264: u8 = 98;
/// Payload type for H.265 elementary streams.
pub const PT_H265: u8 = 100;

/// How media travels, seen from the side that writes the SDP. In the platform's offer
/// `TcpPassive` means the platform listens and the device connects; in a device's answer
/// to it the device is `TcpActive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MediaTransport {
    /// RTP over UDP.
    Udp,
    /// RTP over TCP; the writer listens, the peer connects (`a=setup:passive`).
    TcpPassive,
    /// RTP over TCP; the writer connects to the peer (`a=setup:active`).
    TcpActive,
}

impl MediaTransport {
    fn proto(self) -> MediaProto {
        match self {
            Self::Udp => MediaProto::RtpAvp,
            Self::TcpPassive | Self::TcpActive => MediaProto::TcpRtpAvp,
        }
    }

    /// The offerer's `a=setup` (None for UDP).
    fn offer_setup(self) -> Option<Setup> {
        match self {
            Self::Udp => None,
            Self::TcpPassive => Some(Setup::Passive),
            Self::TcpActive => Some(Setup::Active),
        }
    }

    /// The answerer's `a=setup`: the other role.
    fn answer_setup(self) -> Option<Setup> {
        match self {
            Self::Udp => None,
            Self::TcpPassive => Some(Setup::Active),
            Self::TcpActive => Some(Setup::Passive),
        }
    }
}

fn origin(owner: &DeviceId, address: IpAddr) -> Origin {
    Origin {
        username: owner.to_string(),
        session_id: "0".to_owned(),
        session_version: "0".to_owned(),
        net_type: "IN".to_owned(),
        addr_type: addr_type(address).to_owned(),
        address: address.to_string(),
    }
}

fn connection(address: IpAddr) -> Connection {
    Connection {
        net_type: "IN".to_owned(),
        addr_type: addr_type(address).to_owned(),
        address: address.to_string(),
    }
}

fn addr_type(address: IpAddr) -> &'static str {
    match address {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// The platform's INVITE offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// `s=`: Play, Playback or Download.
    pub session: SessionName,
    /// The platform's (server's) ID, for `o=`.
    pub owner: DeviceId,
    /// Where the platform receives media (TCP passive) or connects from.
    pub address: IpAddr,
    /// The platform's media port.
    pub port: u16,
    /// UDP or TCP, and who connects.
    pub transport: MediaTransport,
    /// `y=`.
    pub ssrc: Ssrc,
    /// `u=<channel>:0`, for playback and download.
    pub channel: Option<DeviceId>,
    /// `t=`: start and stop (Unix seconds) for playback/download; `0 0` for live.
    pub timing: Timing,
    /// `a=downloadspeed:` for downloads.
    pub download_speed: Option<u32>,
    /// Payload types offered, in order: by default PS 96, MPEG4 97, H264 98.
    pub rtpmaps: Vec<RtpMap>,
}

impl Offer {
    /// A live view offer (`s=Play`, `t=0 0`).
    pub fn play(
        owner: DeviceId,
        address: IpAddr,
        port: u16,
        transport: MediaTransport,
        ssrc: Ssrc,
    ) -> Self {
        Self {
            session: SessionName::Play,
            owner,
            address,
            port,
            transport,
            ssrc,
            channel: None,
            timing: Timing { start: 0, stop: 0 },
            download_speed: None,
            rtpmaps: vec![
                RtpMap::video(PT_PS, "PS"),
                RtpMap::video(PT_MPEG4, "MPEG4"),
                RtpMap::video(PT_H264, "H264"),
            ],
        }
    }

    /// Turns the offer into a playback of `channel` between `start` and `stop` (Unix
    /// seconds): `s=Playback`, `u=<channel>:0`, `t=<start> <stop>`.
    pub fn playback(mut self, channel: DeviceId, start: u64, stop: u64) -> Self {
        self.session = SessionName::Playback;
        self.channel = Some(channel);
        self.timing = Timing { start, stop };
        self
    }

    /// Turns the offer into a download of `channel` at `speed` times real time.
    pub fn download(mut self, channel: DeviceId, start: u64, stop: u64, speed: u32) -> Self {
        self = self.playback(channel, start, stop);
        self.session = SessionName::Download;
        self.download_speed = Some(speed);
        self
    }

    /// The SDP to put in the INVITE.
    pub fn to_sdp(&self) -> Sdp {
        let mut m = Media::video(
            self.port,
            self.transport.proto(),
            self.rtpmaps.iter().map(|r| r.payload_type).collect(),
        );
        m.direction = Some(Direction::RecvOnly);
        m.rtpmaps = self.rtpmaps.clone();
        m.setup = self.transport.offer_setup();
        if m.setup.is_some() {
            m.tcp_connection = Some("new".to_owned());
        }
        m.download_speed = self.download_speed;
        Sdp {
            version: 0,
            origin: origin(&self.owner, self.address),
            session_name: self.session.clone(),
            uri: self.channel.map(|c| format!("{c}:0")),
            connection: Some(connection(self.address)),
            timing: Some(self.timing),
            other: Vec::new(),
            attributes: Vec::new(),
            media: vec![m],
            ssrc: Some(self.ssrc),
            format: None,
        }
    }
}

/// A device's answer to an offer (what the simulator sends in its 200 OK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `s=`, echoed from the offer.
    pub session: SessionName,
    /// The answering channel's ID, for `o=`.
    pub owner: DeviceId,
    /// The device's media address.
    pub address: IpAddr,
    /// The device's media port (where it sends from, or listens for TCP active offers).
    pub port: u16,
    /// The offer's transport (the offerer's view); the answer takes the other TCP role.
    pub transport: MediaTransport,
    /// `y=`, normally echoed from the offer.
    pub ssrc: Option<Ssrc>,
    /// `u=`, echoed from the offer.
    pub uri: Option<String>,
    /// `t=`, echoed from the offer.
    pub timing: Timing,
    /// The payload chosen: PS 96 by default.
    pub rtpmap: RtpMap,
    /// `a=filesize:` for downloads.
    pub file_size: Option<u64>,
    /// `f=`.
    pub format: Option<MediaFormat>,
}

impl Answer {
    /// An answer to `offer` from channel `owner` at `address:port`, choosing PS: echoes the
    /// session name, `u=`, `t=` and SSRC, and takes the other TCP role.
    pub fn for_offer(offer: &Sdp, owner: DeviceId, address: IpAddr, port: u16) -> Self {
        Self {
            session: offer.session_name.clone(),
            owner,
            address,
            port,
            transport: offer.video_transport().unwrap_or(MediaTransport::Udp),
            ssrc: offer.ssrc,
            uri: offer.uri.clone(),
            timing: offer.timing.unwrap_or(Timing { start: 0, stop: 0 }),
            rtpmap: RtpMap::video(PT_PS, "PS"),
            file_size: None,
            format: None,
        }
    }

    /// The SDP to put in the 200 OK.
    pub fn to_sdp(&self) -> Sdp {
        let mut m = Media::video(
            self.port,
            self.transport.proto(),
            vec![self.rtpmap.payload_type],
        );
        m.direction = Some(Direction::SendOnly);
        m.rtpmaps = vec![self.rtpmap.clone()];
        m.setup = self.transport.answer_setup();
        if m.setup.is_some() {
            m.tcp_connection = Some("new".to_owned());
        }
        m.file_size = self.file_size;
        Sdp {
            version: 0,
            origin: origin(&self.owner, self.address),
            session_name: self.session.clone(),
            uri: self.uri.clone(),
            connection: Some(connection(self.address)),
            timing: Some(self.timing),
            other: Vec::new(),
            attributes: Vec::new(),
            media: vec![m],
            ssrc: self.ssrc,
            format: self.format.clone(),
        }
    }
}
