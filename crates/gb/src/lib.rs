//! vigil-gb: GB/T 28181 specifics: 20-digit IDs, MANSCDP XML, charsets, SDP with y=/f=, PTZ command bytes. Sans-IO.
