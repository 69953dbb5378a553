//! vigil-gb: GB/T 28181 specifics: 20-digit IDs, MANSCDP XML, charsets, SDP with y=/f=,
//! PTZ command bytes. Sans-IO: no sockets, no clocks, no tokio; every function takes bytes
//! or text and returns values.
//!
//! ```
//! use vigil_gb::{Charset, Manscdp, parse_body};
//!
//! let body = b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify><CmdType>Keepalive</CmdType>\
//!              <SN>43</SN><DeviceID>34020000001320000001</DeviceID><Status>OK</Status></Notify>\0";
//! let (msg, charset) = parse_body(body).unwrap();
//! assert_eq!(charset, Charset::Gb2312);
//! match msg {
//!     Manscdp::Keepalive(k) => {
//!         assert_eq!(k.device_id.domain(), "3402000000");
//!         assert!(k.is_ok());
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
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
