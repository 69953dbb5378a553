//! vigil-gb: GB/T 28181 specifics: 20-digit IDs, MANSCDP XML, charsets, SDP with y=/f=,
//! PTZ command bytes. Sans-IO: no sockets, no clocks, no tokio; every function takes bytes
//! or text and returns values.
#![forbid(unsafe_code)]

pub mod charset;
pub mod id;
pub mod manscdp;
pub mod ptz;
pub mod sdp;

pub use charset::{Charset, CharsetError, decode_body, encode_body};
pub use id::{DeviceId, DeviceKind, IdError};
pub use manscdp::{Manscdp, Root, XmlError, parse, parse_body};
pub use ptz::{PtzCmd, PtzError, PtzInstruction};
pub use sdp::{Sdp, SdpError, Ssrc};
