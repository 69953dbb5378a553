//! vigil-sip: SIP message model, parser/printer, TCP framing, digest auth, transactions and dialogs (RFC 3261). Sans-IO: no sockets, no clocks.
