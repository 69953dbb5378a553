//! RFC 4475 "SIP Torture Test Messages", section 3, as byte-exact fixtures (tests/rfc4475/*.dat,
//! CRLF line ends, the RFC's <hex>, <repeat> and <allOneLine> notations expanded; checked line by
//! line against the RFC text, including its own oddities such as `host1.examle.com` in trws).
//!
//! Valid messages must parse into the right values; invalid ones must be rejected by `parse`
//! (with an answerable 400 where the RFC expects one) or, for a malformed header that `parse`
//! leaves for on-demand parsing, by the typed accessor / `Request::validate`.
//!
//! Skipped: §3.1.1.11 mpart01 (multipart body with a binary S/MIME part: its several hundred
//! bytes of hex could not be transcribed reliably here; multipart bodies are opaque `Bytes` to
//! this crate anyway).

use std::net::Ipv4Addr;

use vigil_sip::digest::{Credential, DigestServer, Rejection, Verdict};
use vigil_sip::{
    Contact, ErrorKind, HeaderName, Host, Message, Method, ParseError, Request, Response, Scheme,
    StatusCode, Transport, parse, percent_decode,
};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("rfc4475/", $name, ".dat")).as_slice()
    };
}

fn request(bytes: &[u8]) -> Request {
    match parse(bytes) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn response(bytes: &[u8]) -> Response {
    match parse(bytes) {
        Ok(Message::Response(r)) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn rejected(bytes: &[u8]) -> ParseError {
    match parse(bytes) {
        Err(e) => e,
        Ok(m) => panic!("expected a rejection, got {m:?}"),
    }
}

/// Rejected with `kind`, and answerable with a 400 (or `status`) that copies the request's headers.
fn rejected_with_answer(bytes: &[u8], kind: ErrorKind, status: StatusCode) -> Response {
    let e = rejected(bytes);
    assert_eq!(e.kind(), &kind, "{e}");
    let resp = e.bad_request().expect("answerable");
    assert_eq!(resp.status, status);
    assert_eq!(resp.reason, e.reason());
    assert!(resp.headers.get("Call-ID").is_some());
    resp
}

// ---------------------------------------------------------------- 3.1.1 valid messages

#[test]
fn wsinv_short_tortuous_invite() {
    let r = request(fixture!("wsinv"));
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri.user.as_deref(), Some("vivekg"));
    assert_eq!(r.uri.host, Host::Name("chair-dnrc.example.com".into()));
    assert!(r.uri.params.contains("unknownparam"));
    let h = &r.headers;
    let to = h.to().unwrap();
    assert_eq!(to.uri.user.as_deref(), Some("vivekg"));
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = h.from().unwrap();
    assert_eq!(from.display_name.as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(from.uri.to_string(), "sip:jdrosen@example.com");
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(h.max_forwards().unwrap(), Some(68));
    assert_eq!(h.call_id().unwrap(), "wsinv.ndaksdj@192.0.2.1");
    let cseq = h.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let via = h.via().unwrap();
    assert_eq!(via.len(), 3);
    assert_eq!(
        (&via[0].transport, &via[0].host),
        (&Transport::Udp, &Host::V4(Ipv4Addr::new(192, 0, 2, 2)))
    );
    assert_eq!(via[0].branch(), Some("390skdjuw"));
    assert_eq!(via[1].transport, Transport::Tcp);
    assert_eq!(via[1].host, Host::Name("spindle.example.com".into()));
    assert_eq!(via[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(via[2].host, Host::V4(Ipv4Addr::new(192, 168, 255, 111)));
    assert_eq!(via[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(h.subject(), Some(""));
    assert_eq!(
        h.get("newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(h.get("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    assert_eq!(
        h.get("Route"),
        Some("<sip:services.example.com;lr;unknownwith=value;unknown-no-value>")
    );
    let Contact::List(contacts) = h.contacts().unwrap() else {
        panic!("wildcard")
    };
    assert_eq!(contacts.len(), 1);
    assert_eq!(
        contacts[0].display_name.as_deref(),
        Some(r#"Quoted string """#)
    );
    assert_eq!(contacts[0].params.value("newparam"), Some("newvalue"));
    assert!(contacts[0].params.contains("secondparam"));
    assert_eq!(contacts[0].params.value("q"), Some("0.33"));
    assert!(h.content_type().unwrap().unwrap().is("application", "sdp"));
    assert_eq!(r.body.len(), 150);
    r.validate().unwrap();
}

#[test]
fn intmeth_wide_range_of_valid_characters() {
    let r = request(fixture!("intmeth"));
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(r.method, Method::Other(method.into()));
    assert_eq!(
        r.uri.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        r.uri.password.as_deref(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(r.uri.host, Host::Name("example.com".into()));
    let h = &r.headers;
    assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
    let to = h.to().unwrap();
    assert_eq!(to.display_name.as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
    assert_eq!(
        to.uri.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    let from = h.from().unwrap();
    assert_eq!(
        from.display_name.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        from.params
            .get("fromParam''~+*_!.-%")
            .unwrap()
            .unquoted()
            .unwrap(),
        "\u{440}\u{430}\u{431}\u{43e}\u{442}\u{430}\u{44e}\u{449}\u{438}\u{439}"
    );
    assert_eq!(
        h.call_id().unwrap(),
        r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#
    );
    let cseq = h.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method.as_str()), (139122385, method));
    assert_eq!(h.max_forwards().unwrap(), Some(255));
    assert_eq!(
        h.get("extensionHeader-!.%*+_`'~"),
        Some("\u{feff}\u{5927}\u{505c}\u{96fb}")
    );
    r.validate().unwrap();
}

#[test]
fn esc01_valid_percent_escapes() {
    let r = request(fixture!("esc01"));
    assert_eq!(r.uri.user.as_deref(), Some("sips%3Auser%40example.com"));
    assert_eq!(
        r.uri.user_decoded().as_deref(),
        Some("sips:user@example.com")
    );
    assert_eq!(r.uri.host, Host::Name("example.net".into()));
    let h = &r.headers;
    assert_eq!(h.to().unwrap().uri.user_decoded().as_deref(), Some("user"));
    assert_eq!(
        h.from().unwrap().uri.user_decoded().as_deref(),
        Some("I have spaces")
    );
    assert_eq!(h.call_id().unwrap(), "esc01.239409asdfakjkn23onasd0-3234");
    assert!(h.content_type().unwrap().unwrap().is("application", "sdp"));
    let c = h.contact().unwrap().unwrap();
    assert_eq!(c.uri.user_decoded().as_deref(), Some("caller"));
    assert_eq!(c.uri.host, Host::Name("host5.example.net".into()));
    assert_eq!(c.uri.port, None);
    let p: Vec<_> = c.uri.params.iter().collect();
    assert_eq!(percent_decode(&p[0].name), "lr");
    assert_eq!(percent_decode(&p[1].name), "name");
    assert_eq!(percent_decode(p[1].value.as_deref().unwrap()), "value%41");
    assert_eq!(r.body.len(), 150);
}

#[test]
fn escnull_escaped_nulls_in_uris() {
    let r = request(fixture!("escnull"));
    let h = &r.headers;
    assert_eq!(
        h.to().unwrap().uri.user_decoded().as_deref(),
        Some("null-\0-null")
    );
    let Contact::List(c) = h.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].uri.user_decoded().as_deref(), Some("\0"));
    assert_eq!(c[1].uri.user_decoded().as_deref(), Some("\0\0"));
    assert_eq!(h.content_length().unwrap(), Some(0));
}

#[test]
fn esc02_percent_that_is_not_an_escape() {
    let r = request(fixture!("esc02"));
    assert_eq!(r.method, Method::Other("RE%47IST%45R".into()));
    let h = &r.headers;
    assert_eq!(h.to().unwrap().display_name.as_deref(), Some("%Z%45"));
    assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK209%fzsnel234"));
    // C%6Fntact is an unknown header, not a third Contact.
    let Contact::List(c) = h.contacts().unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 2);
    assert_eq!(h.get("C%6Fntact"), Some("<sip:alias2@host2.example.com>"));
}

#[test]
fn lwsdisp_no_lws_between_display_name_and_angle() {
    let r = request(fixture!("lwsdisp"));
    let from = r.headers.from().unwrap();
    assert_eq!(from.display_name.as_deref(), Some("caller"));
    assert_eq!(from.tag(), Some("323"));
}

#[test]
fn longreq_long_values() {
    let r = request(fixture!("longreq"));
    let h = &r.headers;
    let to = h.to().unwrap();
    assert_eq!(
        to.display_name.as_deref(),
        Some(format!("I have a user name of {} proportion", "extreme".repeat(10)).as_str())
    );
    assert_eq!(to.uri.port, Some(6000));
    assert_eq!(to.uri.params.len(), 3);
    let from = h.from().unwrap();
    assert_eq!(
        from.tag(),
        Some(format!("12{}424", "982".repeat(50)).as_str())
    );
    assert_eq!(
        from.uri.user.as_deref(),
        Some("amazinglylongcallername".repeat(5).as_str())
    );
    assert_eq!(
        h.call_id().unwrap(),
        format!("longreq.one{}longcallid", "really".repeat(20))
    );
    let via = h.via().unwrap();
    assert_eq!(via.len(), 34);
    assert_eq!(via[0].host, Host::Name("sip33.example.com".into()));
    assert_eq!(via[33].branch().map(str::len), Some(4 + 200 + 11));
    let long = "long".repeat(20);
    assert_eq!(
        h.get(format!("Unknown-{}-Name", "Long".repeat(20)).as_str()),
        Some(format!("unknown-{long}-value; unknown-{long}-parameter-name = unknown-{long}-parameter-value").as_str())
    );
    assert_eq!(r.body.len(), 150);
    r.validate().unwrap();
}

#[test]
fn dblreq_extra_bytes_after_content_length_are_discarded() {
    let r = request(fixture!("dblreq"));
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());
    assert_eq!(
        r.headers.call_id().unwrap(),
        "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    );
}

#[test]
fn semiuri_semicolon_in_user_part() {
    let r = request(fixture!("semiuri"));
    assert_eq!(r.uri.user.as_deref(), Some("user;par=u%40example.net"));
    assert_eq!(r.uri.host, Host::Name("example.com".into()));
    assert!(r.uri.params.is_empty());
    assert_eq!(
        r.headers.get("Accept"),
        Some(
            "application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, message/sip, message/sipfrag"
        )
    );
}

#[test]
fn transports_varied_and_unknown() {
    let r = request(fixture!("transports"));
    let t: Vec<_> = r
        .headers
        .via()
        .unwrap()
        .into_iter()
        .map(|v| v.transport)
        .collect();
    assert_eq!(
        t,
        vec![
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other("UNKNOWN".into()),
            Transport::Tcp
        ]
    );
    assert_eq!(
        r.headers.call_id().unwrap(),
        "transports.kijh4akdnaqjkwendsasfdj"
    );
}

#[test]
fn unreason_unusual_reason_phrase() {
    let r = response(fixture!("unreason"));
    assert_eq!(r.status.code(), 200);
    assert!(r.reason.starts_with("= 2**3 * 5**2 \u{43d}\u{43e} "));
    assert!(
        r.reason
            .ends_with("\u{43f}\u{440}\u{43e}\u{441}\u{442}\u{43e}\u{435}")
    );
    assert_eq!(r.body.len(), 154);
}

#[test]
fn noreason_empty_reason_phrase() {
    let r = response(fixture!("noreason"));
    assert_eq!(r.status, StatusCode::TRYING);
    assert_eq!(r.reason, "");
}

#[test]
fn valid_messages_round_trip_through_the_printer() {
    for (name, bytes) in [
        ("wsinv", fixture!("wsinv")),
        ("intmeth", fixture!("intmeth")),
        ("esc01", fixture!("esc01")),
        ("escnull", fixture!("escnull")),
        ("esc02", fixture!("esc02")),
        ("lwsdisp", fixture!("lwsdisp")),
        ("longreq", fixture!("longreq")),
        ("dblreq", fixture!("dblreq")),
        ("semiuri", fixture!("semiuri")),
        ("transports", fixture!("transports")),
        ("unreason", fixture!("unreason")),
        ("noreason", fixture!("noreason")),
        ("badbranch", fixture!("badbranch")),
        ("unkscm", fixture!("unkscm")),
        ("novelsc", fixture!("novelsc")),
        ("unksm2", fixture!("unksm2")),
        ("bext01", fixture!("bext01")),
        ("invut", fixture!("invut")),
        ("regaut01", fixture!("regaut01")),
        ("bcast", fixture!("bcast")),
        ("zeromf", fixture!("zeromf")),
        ("cparam01", fixture!("cparam01")),
        ("cparam02", fixture!("cparam02")),
        ("regescrt", fixture!("regescrt")),
        ("sdp01", fixture!("sdp01")),
        ("inv2543", fixture!("inv2543")),
    ] {
        let mut first = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let printed = first.to_bytes();
        let mut again = parse(&printed).unwrap_or_else(|e| panic!("{name} reprinted: {e}"));
        // The printer adds Content-Length where the original had none (inv2543).
        first.headers_mut().remove(HeaderName::ContentLength);
        again.headers_mut().remove(HeaderName::ContentLength);
        assert_eq!(first, again, "{name}");
    }
}

// ---------------------------------------------------------------- 3.1.2 invalid messages

#[test]
fn badinv01_extraneous_separators_rejected_by_typed_access() {
    let r = request(fixture!("badinv01"));
    assert_eq!(r.headers.via().unwrap_err().why, "empty parameter name");
    assert_eq!(
        r.headers.contacts().unwrap_err().why,
        "empty parameter name"
    );
    assert!(r.validate().is_err());
}

#[test]
fn clerr_content_length_larger_than_message() {
    rejected_with_answer(
        fixture!("clerr"),
        ErrorKind::BodyTruncated {
            declared: 9999,
            actual: 154,
        },
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn ncl_negative_content_length() {
    rejected_with_answer(
        fixture!("ncl"),
        ErrorKind::BadHeader {
            name: "Content-Length",
            why: "not a number",
        },
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn scalar02_request_scalar_fields_with_overlarge_values() {
    rejected_with_answer(
        fixture!("scalar02"),
        ErrorKind::BadHeader {
            name: "CSeq",
            why: "sequence number too large",
        },
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn scalarlg_response_with_overlarge_values_is_dropped() {
    let e = rejected(fixture!("scalarlg"));
    assert_eq!(
        e.kind(),
        &ErrorKind::BadHeader {
            name: "CSeq",
            why: "sequence number too large"
        }
    );
    assert!(e.bad_request().is_none(), "responses are never answered");
}

#[test]
fn quotbal_unterminated_quoted_display_name() {
    let r = request(fixture!("quotbal"));
    assert_eq!(
        r.headers.to().unwrap_err().why,
        "unterminated quoted string"
    );
    assert!(r.validate().is_err());
}

#[test]
fn ltgtruri_angle_brackets_around_request_uri() {
    rejected_with_answer(
        fixture!("ltgtruri"),
        ErrorKind::RequestUri("enclosed in <>"),
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn lwsruri_embedded_lws_in_request_uri() {
    let e = rejected(fixture!("lwsruri"));
    assert_eq!(
        e.kind(),
        &ErrorKind::RequestUri("whitespace or control character")
    );
    assert_eq!(e.offset(), "INVITE sip:user@example.com;".len());
    assert!(e.bad_request().is_some());
}

#[test]
fn lwsstart_multiple_sp_in_request_line() {
    rejected_with_answer(
        fixture!("lwsstart"),
        ErrorKind::RequestUri("whitespace or control character"),
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn trws_sp_at_end_of_request_line() {
    rejected_with_answer(
        fixture!("trws"),
        ErrorKind::RequestLine("bad SIP version"),
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn escruri_headers_in_request_uri() {
    rejected_with_answer(
        fixture!("escruri"),
        ErrorKind::RequestUri("headers not allowed"),
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn baddate_non_gmt_date_is_kept_verbatim() {
    // Date is not interpreted here (GB28181 uses its own format): the application decides.
    let r = request(fixture!("baddate"));
    assert_eq!(r.headers.date(), Some("Fri, 01 Jan 2010 16:00:00 EST"));
}

#[test]
fn regbadct_unbracketed_contact_uri_with_headers() {
    let r = request(fixture!("regbadct"));
    assert_eq!(
        r.headers.contacts().unwrap_err().why,
        "URI with '?' must be enclosed in <>"
    );
    assert!(r.validate().is_err());
}

#[test]
fn badaspec_spaces_inside_angle_brackets() {
    let r = request(fixture!("badaspec"));
    assert_eq!(r.headers.to().unwrap_err().why, "bad scheme");
    assert!(r.headers.from().is_ok());
}

#[test]
fn baddn_non_token_display_name() {
    let r = request(fixture!("baddn"));
    assert!(r.headers.from().is_err());
    assert!(r.headers.to().is_err());
}

#[test]
fn badvers_unknown_protocol_version_gets_505() {
    rejected_with_answer(
        fixture!("badvers"),
        ErrorKind::Version,
        StatusCode::VERSION_NOT_SUPPORTED,
    );
}

#[test]
fn mismatch01_cseq_method_differs_from_request_method() {
    rejected_with_answer(
        fixture!("mismatch01"),
        ErrorKind::BadHeader {
            name: "CSeq",
            why: "method mismatch",
        },
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn mismatch02_unknown_method_with_cseq_mismatch() {
    rejected_with_answer(
        fixture!("mismatch02"),
        ErrorKind::BadHeader {
            name: "CSeq",
            why: "method mismatch",
        },
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn bigcode_overlarge_status_code() {
    let e = rejected(fixture!("bigcode"));
    assert_eq!(e.kind(), &ErrorKind::StatusLine("bad status code"));
    assert!(e.bad_request().is_none());
}

// ---------------------------------------------------------------- 3.2 transaction layer

#[test]
fn badbranch_branch_is_only_the_magic_cookie() {
    let r = request(fixture!("badbranch"));
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bK"));
}

// ---------------------------------------------------------------- 3.3 application layer

#[test]
fn insuf_missing_required_headers_is_unanswerable() {
    let e = rejected(fixture!("insuf"));
    assert_eq!(e.kind(), &ErrorKind::MissingHeader("From"));
    assert!(e.bad_request().is_none(), "no Call-ID/From/To to copy");
}

#[test]
fn unkscm_unknown_request_uri_scheme_is_parsed_for_a_416() {
    let r = request(fixture!("unkscm"));
    assert_eq!(r.uri.scheme, Scheme::Other("nobodyKnowsThisScheme".into()));
    assert!(!r.uri.is_sip());
    assert_eq!(
        r.uri.to_string(),
        "nobodyKnowsThisScheme:totallyopaquecontent"
    );
}

#[test]
fn novelsc_novel_scheme() {
    let r = request(fixture!("novelsc"));
    assert_eq!(r.uri.scheme, Scheme::Other("soap.beep".into()));
    assert_eq!(r.uri.to_string(), "soap.beep://192.0.2.103:3002");
}

#[test]
fn unksm2_unknown_schemes_in_headers() {
    let r = request(fixture!("unksm2"));
    assert_eq!(
        r.headers.to().unwrap().uri.scheme,
        Scheme::Other("isbn".into())
    );
    assert_eq!(
        r.headers.from().unwrap().uri.scheme,
        Scheme::Other("http".into())
    );
    let contact = r.headers.contact().unwrap().unwrap();
    assert_eq!(contact.uri.scheme, Scheme::Other("name".into()));
    assert_eq!(contact.uri.to_string(), "name:John_Smith");
}

#[test]
fn bext01_unknown_extensions_listed() {
    let r = request(fixture!("bext01"));
    assert_eq!(
        r.headers.tokens(HeaderName::Require).collect::<Vec<_>>(),
        vec!["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(r.headers.tokens(HeaderName::ProxyRequire).count(), 2);
}

#[test]
fn invut_unknown_content_type() {
    let r = request(fixture!("invut"));
    assert!(
        r.headers
            .content_type()
            .unwrap()
            .unwrap()
            .is("application", "unknownformat")
    );
    assert_eq!(
        &r.body[..],
        b"<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n"
    );
}

#[test]
fn regaut01_unknown_authorization_scheme() {
    let r = request(fixture!("regaut01"));
    let auth = r.headers.authorization().unwrap().unwrap();
    assert!(!auth.is_digest());
    assert_eq!(&*auth.0.scheme, "NoOneKnowsThisScheme");
    assert_eq!(auth.0.get("opaque-data"), Some("here"));
    let mut server = DigestServer::new(b"k", "example.com", std::time::Duration::from_secs(60));
    assert_eq!(
        server.verify(&auth, "REGISTER", Credential::Password("x"), 0),
        Verdict::Invalid(Rejection::NotDigest)
    );
}

#[test]
fn multi01_repeated_single_instance_headers() {
    let resp = rejected_with_answer(
        fixture!("multi01"),
        ErrorKind::BadHeader {
            name: "From",
            why: "appears more than once",
        },
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(resp.headers.get_all("To").count(), 1);
    assert_eq!(resp.headers.get_all("CSeq").count(), 1);
}

#[test]
fn mcl01_conflicting_content_lengths() {
    rejected_with_answer(
        fixture!("mcl01"),
        ErrorKind::BadHeader {
            name: "Content-Length",
            why: "conflicting values",
        },
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn bcast_broadcast_via_is_parsed() {
    let r = response(fixture!("bcast"));
    let via = r.headers.via().unwrap();
    assert_eq!(via[1].host, Host::V4(Ipv4Addr::BROADCAST));
}

#[test]
fn zeromf_zero_max_forwards() {
    assert_eq!(
        request(fixture!("zeromf")).headers.max_forwards().unwrap(),
        Some(0)
    );
}

#[test]
fn cparam01_unbracketed_contact_param_is_a_header_param() {
    let c = request(fixture!("cparam01"))
        .headers
        .contact()
        .unwrap()
        .unwrap();
    assert!(c.params.contains("unknownparam"));
    assert!(c.uri.params.is_empty());
}

#[test]
fn cparam02_bracketed_contact_param_is_a_uri_param() {
    let c = request(fixture!("cparam02"))
        .headers
        .contact()
        .unwrap()
        .unwrap();
    assert!(c.uri.params.contains("unknownparam"));
    assert!(c.params.is_empty());
}

#[test]
fn regescrt_escaped_route_in_contact_uri_headers() {
    let c = request(fixture!("regescrt"))
        .headers
        .contact()
        .unwrap()
        .unwrap();
    assert_eq!(
        c.uri.headers.value("Route"),
        Some("%3Csip:sip.example.com%3E")
    );
    assert_eq!(
        percent_decode(c.uri.headers.value("Route").unwrap()),
        "<sip:sip.example.com>"
    );
}

#[test]
fn sdp01_body_kept_whatever_accept_says() {
    let r = request(fixture!("sdp01"));
    assert_eq!(r.body.len(), 150);
    assert_eq!(r.headers.get("Accept"), Some("text/nobodyKnowsThis"));
}

// ---------------------------------------------------------------- 3.4 backward compatibility

#[test]
fn inv2543_rfc2543_request_without_branch_or_content_length() {
    let r = request(fixture!("inv2543"));
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.branch(), None);
    assert!(!via.has_rfc3261_branch());
    assert_eq!(r.headers.from().unwrap().tag(), None);
    assert_eq!(r.headers.to().unwrap().params.value("user"), Some("phone"));
    assert!(r.body.starts_with(b"v=0\r\n") && r.body.ends_with(b"m=audio 49217 RTP/AVP 0\r\n"));
}
