//! vigil-sip: SIP message model, parser/printer, URIs, typed headers, TCP framing, digest auth,
//! transactions and dialogs (RFC 3261). Sans-IO: no sockets, no clocks; time and randomness are arguments.
//!
//! ```
//! let msg = vigil_sip::parse(b"OPTIONS sip:34020000002000000001@3402000000 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n\
//! Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").unwrap();
//! let vigil_sip::Message::Request(req) = msg else { panic!() };
//! let resp = vigil_sip::Response::for_request(&req, 200, "").with_to_tag("t1");
//! assert!(resp.to_bytes().starts_with(b"SIP/2.0 200 OK\r\n"));
//! ```
#![forbid(unsafe_code)]

pub mod dialog;
pub mod digest;
mod error;
pub mod header;
pub mod ids;
mod message;
mod method;
mod parser;
pub mod routing;
pub mod stream;
mod text;
pub mod transaction;
pub mod uri;

pub use bytes::Bytes;
pub use bytestring::ByteString;
pub use dialog::{Dialog, DialogError, DialogId};
pub use error::{ErrorKind, HeaderError, ParseError, bad_request_response};
pub use header::{
    Authorization, CSeq, Challenge, Contact, Header, HeaderName, Headers, MediaType, NameAddr,
    Transport, Via,
};
pub use message::{Message, Request, Response, StatusCode};
pub use method::Method;
pub use parser::{MAX_HEADERS, MAX_MESSAGE_SIZE, parse, parse_bytes};
pub use text::percent_decode;
pub use transaction::{
    Timers, TransactionKey, TransactionLayer, Transmit, TxError, TxEvent, cancel_for,
};
pub use uri::{Host, Param, Params, Scheme, Uri, UriError};
