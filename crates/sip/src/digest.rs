//! HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 3261 §22): the server side issues
//! challenges with self-validating nonces and verifies `Authorization`; the client side answers a
//! challenge. MD5 (and MD5-sess) for GB28181-2016 devices, SHA-256 (and -sess) for GB28181-2022.
//!
//! Nonce = 16 hex digits of the issue time (Unix ms) + 32 hex digits of
//! HMAC-SHA256(secret, time || realm) truncated to 128 bits, so no per-nonce storage is needed to
//! check one; only the highest `nc` seen per nonce is remembered, in a bounded table, to stop replays.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::header::{Authorization, Challenge};
use crate::text::write_quoted;

/// Digest algorithm; parsed case-insensitively (devices send `md5`), printed canonically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// `None` for an unsupported algorithm name.
    pub fn parse(s: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    fn is_sha256(self) -> bool {
        matches!(self, Algorithm::Sha256 | Algorithm::Sha256Sess)
    }

    /// Lowercase hex of the hash of `parts` joined by `:`.
    fn hash(self, parts: &[&str]) -> String {
        fn run<D: Digest>(parts: &[&str]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex(&d.finalize())
        }
        if self.is_sha256() {
            run::<Sha256>(parts)
        } else {
            run::<Md5>(parts)
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// HA1 = H(username:realm:password), the value a credential store may keep instead of the password.
/// For the `-sess` algorithms this is the base HA1 (before nonce and cnonce are mixed in).
pub fn ha1(username: &str, realm: &str, password: &str, algorithm: Algorithm) -> String {
    algorithm.hash(&[username, realm, password])
}

/// What to verify a response against. Debug never shows the secret.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// The plain password.
    Password(&'a str),
    /// A stored HA1 in hex: 32 digits for MD5, 64 for SHA-256 (the length tells which).
    Ha1(&'a str),
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(***)"),
            Credential::Ha1(_) => f.write_str("Ha1(***)"),
        }
    }
}

/// A secret string (password, HMAC key) whose Debug prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself; only call where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Why credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("not Digest credentials")]
    NotDigest,
    #[error("missing {0} parameter")]
    Missing(&'static str),
    #[error("wrong realm")]
    WrongRealm,
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    #[error("unsupported qop")]
    UnsupportedQop,
    #[error("bad nc")]
    BadNc,
    #[error("nonce not issued here")]
    BadNonce,
    #[error("wrong response")]
    WrongResponse,
    #[error("nonce count replayed")]
    Replay,
    #[error("stored HA1 does not fit the algorithm")]
    Ha1Mismatch,
}

/// Outcome of [`DigestServer::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Credentials are correct and fresh.
    Ok,
    /// Credentials are correct but the nonce expired: challenge again with `stale=true`.
    Stale,
    /// Refused: challenge again (or 403).
    Invalid(Rejection),
}

const NONCE_TS_HEX: usize = 16;
const NONCE_MAC_HEX: usize = 32;
/// How far in the future a nonce's time may be (clock steps between issuing and checking).
const FUTURE_SLACK_MS: u64 = 60_000;
/// Nonces whose `nc` history is kept; the oldest is forgotten first.
pub const NC_TABLE_CAPACITY: usize = 4096;

/// Server side of Digest: issues challenges and checks credentials. Time is always an argument.
pub struct DigestServer {
    mac: Hmac<Sha256>,
    realm: String,
    ttl_ms: u64,
    algorithm: Algorithm,
    qop: bool,
    highest_nc: HashMap<String, u32>,
    order: VecDeque<String>,
}

impl fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServer")
            .field("secret", &"***")
            .field("realm", &self.realm)
            .field("ttl_ms", &self.ttl_ms)
            .field("algorithm", &self.algorithm)
            .field("qop", &self.qop)
            .field("tracked_nonces", &self.order.len())
            .finish()
    }
}

impl DigestServer {
    /// A server for `realm` signing nonces with `secret`, each valid for `nonce_ttl`.
    /// Defaults: MD5, `qop="auth"` offered (clients that ignore it are still accepted).
    pub fn new(secret: &[u8], realm: &str, nonce_ttl: Duration) -> DigestServer {
        // Key = SHA-256(secret) zero-padded to the block size: HMAC of the same key, built infallibly.
        let mut key = hmac::digest::Key::<Hmac<Sha256>>::default();
        key[..32].copy_from_slice(&Sha256::digest(secret));
        DigestServer {
            mac: Hmac::<Sha256>::new(&key),
            realm: realm.to_owned(),
            ttl_ms: u64::try_from(nonce_ttl.as_millis()).unwrap_or(u64::MAX),
            algorithm: Algorithm::Md5,
            qop: true,
            highest_nc: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Algorithm to offer in challenges (verification accepts any supported one).
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> DigestServer {
        self.algorithm = algorithm;
        self
    }

    /// Whether challenges offer `qop="auth"`.
    pub fn with_qop(mut self, qop: bool) -> DigestServer {
        self.qop = qop;
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac_hex(&self, ts_hex: &str) -> String {
        let mut m = self.mac.clone();
        m.update(ts_hex.as_bytes());
        m.update(b"\0");
        m.update(self.realm.as_bytes());
        let out = m.finalize().into_bytes();
        hex(&out[..NONCE_MAC_HEX / 2])
    }

    /// A fresh nonce for `now_unix_ms`.
    pub fn nonce(&self, now_unix_ms: u64) -> String {
        let ts = format!("{now_unix_ms:016x}");
        let mac = self.mac_hex(&ts);
        ts + &mac
    }

    /// The issue time of a nonce made here, or `None` for a forged or foreign one.
    fn nonce_time(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != NONCE_TS_HEX + NONCE_MAC_HEX || !nonce.is_ascii() {
            return None;
        }
        let (ts, mac) = nonce.split_at(NONCE_TS_HEX);
        let expected = self.mac_hex(ts);
        if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        u64::from_str_radix(ts, 16).ok()
    }

    /// A `WWW-Authenticate` value with a new nonce; `stale` tells the client its password was right.
    pub fn challenge(&self, now_unix_ms: u64, stale: bool) -> String {
        let mut s = String::with_capacity(160);
        s.push_str("Digest realm=");
        write_quoted(&mut s, &self.realm);
        s.push_str(", nonce=\"");
        s.push_str(&self.nonce(now_unix_ms));
        s.push('"');
        if self.qop {
            s.push_str(", qop=\"auth\"");
        }
        s.push_str(", algorithm=");
        s.push_str(self.algorithm.as_str());
        if stale {
            s.push_str(", stale=true");
        }
        s
    }

    /// Check `auth` for a request with `method`. The response is recomputed from the
    /// Authorization's own `uri` (devices disagree on which URI form they sign) and compared in
    /// constant time. Correct credentials on an expired nonce give [`Verdict::Stale`].
    /// With `qop=auth`, an `nc` not above the highest seen for that nonce is a replay.
    pub fn verify(
        &mut self,
        auth: &Authorization,
        method: &str,
        credential: Credential<'_>,
        now_unix_ms: u64,
    ) -> Verdict {
        match self.check(auth, method, credential, now_unix_ms) {
            Ok(v) => v,
            Err(r) => Verdict::Invalid(r),
        }
    }

    fn check(
        &mut self,
        auth: &Authorization,
        method: &str,
        credential: Credential<'_>,
        now_unix_ms: u64,
    ) -> Result<Verdict, Rejection> {
        if !auth.is_digest() {
            return Err(Rejection::NotDigest);
        }
        let username = auth.username().ok_or(Rejection::Missing("username"))?;
        let realm = auth.realm().ok_or(Rejection::Missing("realm"))?;
        let nonce = auth.nonce().ok_or(Rejection::Missing("nonce"))?;
        let uri = auth.uri().ok_or(Rejection::Missing("uri"))?;
        let response = auth.response().ok_or(Rejection::Missing("response"))?;
        if realm != self.realm {
            return Err(Rejection::WrongRealm);
        }
        let algorithm = match auth.algorithm() {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or(Rejection::UnsupportedAlgorithm)?,
        };
        let issued = self.nonce_time(nonce).ok_or(Rejection::BadNonce)?;
        if issued > now_unix_ms.saturating_add(FUTURE_SLACK_MS) {
            return Err(Rejection::BadNonce);
        }
        let qop = match auth.qop() {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => Some("auth"),
            Some(_) => return Err(Rejection::UnsupportedQop),
        };
        let cnonce = auth.cnonce();
        let nc = match qop {
            Some(_) => {
                let nc_s = auth.nc().ok_or(Rejection::Missing("nc"))?;
                cnonce.ok_or(Rejection::Missing("cnonce"))?;
                if nc_s.len() != 8 {
                    return Err(Rejection::BadNc);
                }
                Some(u32::from_str_radix(nc_s, 16).map_err(|_| Rejection::BadNc)?)
            }
            None => None,
        };
        if algorithm.is_sess() && cnonce.is_none() {
            return Err(Rejection::Missing("cnonce"));
        }

        let base_ha1 = match credential {
            Credential::Password(p) => ha1(username, realm, p, algorithm),
            Credential::Ha1(h) => {
                let want = if algorithm.is_sha256() { 64 } else { 32 };
                if h.len() != want || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Rejection::Ha1Mismatch);
                }
                h.to_ascii_lowercase()
            }
        };
        let ha1 = if algorithm.is_sess() {
            algorithm.hash(&[&base_ha1, nonce, cnonce.unwrap_or("")])
        } else {
            base_ha1
        };
        let ha2 = algorithm.hash(&[method, uri]);
        let expected = match (qop, nc) {
            (Some(q), Some(_)) => algorithm.hash(&[
                &ha1,
                nonce,
                auth.nc().unwrap_or(""),
                cnonce.unwrap_or(""),
                q,
                &ha2,
            ]),
            _ => algorithm.hash(&[&ha1, nonce, &ha2]),
        };
        let got = response.to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(got.as_bytes())) {
            return Err(Rejection::WrongResponse);
        }
        if now_unix_ms > issued.saturating_add(self.ttl_ms) {
            return Ok(Verdict::Stale);
        }
        if let Some(nc) = nc {
            self.record_nc(username, nonce, nc)?;
        }
        Ok(Verdict::Ok)
    }

    /// Remember `nc` for `nonce`; a value not above the highest seen is a replay.
    /// Nonces are not unique per client (two challenges in the same millisecond share one),
    /// so the count is tracked per user and nonce.
    fn record_nc(&mut self, username: &str, nonce: &str, nc: u32) -> Result<(), Rejection> {
        let key = format!("{username}\0{nonce}");
        let nonce = key.as_str();
        match self.highest_nc.get_mut(nonce) {
            Some(h) if nc <= *h => Err(Rejection::Replay),
            Some(h) => {
                *h = nc;
                Ok(())
            }
            None => {
                if self.order.len() >= NC_TABLE_CAPACITY
                    && let Some(old) = self.order.pop_front()
                {
                    self.highest_nc.remove(&old);
                }
                self.highest_nc.insert(nonce.to_owned(), nc);
                self.order.push_back(nonce.to_owned());
                Ok(())
            }
        }
    }
}

/// Why a challenge could not be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("challenge lacks {0}")]
    Missing(&'static str),
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    #[error("only unsupported qop values offered")]
    UnsupportedQop,
}

/// Client side: the `Authorization` value answering `challenge` for a request `method` to `uri`.
///
/// Uses `qop=auth` with `cnonce` and `nc` when the challenge offers it, and RFC 2069 style
/// (no qop) when it offers none, as many GB28181 platforms do.
pub fn authorize(
    challenge: &Challenge,
    method: &str,
    uri: &str,
    username: &str,
    password: &Secret,
    cnonce: &str,
    nc: u32,
) -> Result<String, ChallengeError> {
    if !challenge.is_digest() {
        return Err(ChallengeError::NotDigest);
    }
    let realm = challenge.realm().ok_or(ChallengeError::Missing("realm"))?;
    let nonce = challenge.nonce().ok_or(ChallengeError::Missing("nonce"))?;
    let algorithm = match challenge.algorithm() {
        None => Algorithm::Md5,
        Some(a) => Algorithm::parse(a).ok_or(ChallengeError::UnsupportedAlgorithm)?,
    };
    let qop = match challenge.qop() {
        None => None,
        Some(list) => {
            if list
                .split(',')
                .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            {
                Some("auth")
            } else {
                return Err(ChallengeError::UnsupportedQop);
            }
        }
    };
    let nc_s = format!("{nc:08x}");
    let mut h1 = ha1(username, realm, password.expose(), algorithm);
    if algorithm.is_sess() {
        h1 = algorithm.hash(&[&h1, nonce, cnonce]);
    }
    let ha2 = algorithm.hash(&[method, uri]);
    let response = match qop {
        Some(q) => algorithm.hash(&[&h1, nonce, &nc_s, cnonce, q, &ha2]),
        None => algorithm.hash(&[&h1, nonce, &ha2]),
    };
    let mut s = String::with_capacity(256);
    s.push_str("Digest username=");
    write_quoted(&mut s, username);
    s.push_str(", realm=");
    write_quoted(&mut s, realm);
    s.push_str(", nonce=");
    write_quoted(&mut s, nonce);
    s.push_str(", uri=");
    write_quoted(&mut s, uri);
    s.push_str(", response=\"");
    s.push_str(&response);
    s.push_str("\", algorithm=");
    s.push_str(algorithm.as_str());
    if qop.is_some() || algorithm.is_sess() {
        s.push_str(", cnonce=");
        write_quoted(&mut s, cnonce);
    }
    if let Some(q) = qop {
        s.push_str(", qop=");
        s.push_str(q);
        s.push_str(", nc=");
        s.push_str(&nc_s);
    }
    if let Some(o) = challenge.opaque() {
        s.push_str(", opaque=");
        write_quoted(&mut s, o);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(300);
    const T0: u64 = 1_764_151_530_123; // 2025-11-26T10:05:30.123Z

    fn auth(s: &str) -> Authorization {
        Authorization::parse(s).unwrap()
    }

    #[test]
    fn rfc2617_mufasa_example_response() {
        // RFC 2617 §3.5: the Authorization the client sends for GET /dir/index.html.
        let challenge = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let value = authorize(
            &challenge,
            "GET",
            "/dir/index.html",
            "Mufasa",
            &Secret::new("Circle Of Life"),
            "0a4f113b",
            1,
        )
        .unwrap();
        let a = auth(&value);
        assert_eq!(a.response(), Some("6629fae49393a05397450978507c4ef1"));
        assert_eq!(a.nc(), Some("00000001"));
        assert_eq!(a.qop(), Some("auth"));
        assert_eq!(a.opaque(), Some("5ccc069c403ebaf9f0171e9517f40e41"));
    }

    #[test]
    fn rfc2617_ha1_of_mufasa() {
        assert_eq!(
            ha1(
                "Mufasa",
                "testrealm@host.com",
                "Circle Of Life",
                Algorithm::Md5
            ),
            "939e7578ed9e3c518a452acee763bce9"
        );
    }

    #[test]
    fn rfc7616_sha256_example_response() {
        // RFC 7616 §3.9.1 (note its password spells "Circle of Life").
        let challenge = Challenge::parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        let value = authorize(
            &challenge,
            "GET",
            "/dir/index.html",
            "Mufasa",
            &Secret::new("Circle of Life"),
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        )
        .unwrap();
        assert_eq!(
            auth(&value).response(),
            Some("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        );
    }

    // A GB28181 REGISTER answered without qop (default password 12345678), worked out independently
    // with Python's hashlib:
    //   HA1 = MD5("34020000001320000001:3402000000:12345678")      = 8258341d7dd730ce4d3b8fd2db050320
    //   HA2 = MD5("REGISTER:sip:34020000002000000001@3402000000")
    //   response = MD5(HA1 ":" "9bd055" ":" HA2)                      = 44ac5fd979560c6da6cec866a439bd48
    const GB_USER: &str = "34020000001320000001";
    const GB_REALM: &str = "3402000000";
    const GB_URI: &str = "sip:34020000002000000001@3402000000";
    const GB_NONCE: &str = "9bd055";

    #[test]
    fn gb28181_register_response_without_qop() {
        let challenge = Challenge::parse(&format!(
            r#"Digest realm="{GB_REALM}", nonce="{GB_NONCE}", algorithm=MD5"#
        ))
        .unwrap();
        let value = authorize(
            &challenge,
            "REGISTER",
            GB_URI,
            GB_USER,
            &Secret::new("12345678"),
            "unused",
            1,
        )
        .unwrap();
        assert_eq!(
            value,
            format!(
                r#"Digest username="{GB_USER}", realm="{GB_REALM}", nonce="{GB_NONCE}", uri="{GB_URI}", response="{GB_RESPONSE}", algorithm=MD5"#
            )
        );
        assert_eq!(ha1(GB_USER, GB_REALM, "12345678", Algorithm::Md5), GB_HA1);
    }
    const GB_HA1: &str = "8258341d7dd730ce4d3b8fd2db050320";
    const GB_RESPONSE: &str = "44ac5fd979560c6da6cec866a439bd48";

    fn server() -> DigestServer {
        DigestServer::new(b"server secret", GB_REALM, TTL)
    }

    fn answer(server: &DigestServer, now: u64, password: &str, nc: u32) -> Authorization {
        let ch = Challenge::parse(&server.challenge(now, false)).unwrap();
        auth(
            &authorize(
                &ch,
                "REGISTER",
                GB_URI,
                GB_USER,
                &Secret::new(password),
                "c0ffee",
                nc,
            )
            .unwrap(),
        )
    }

    #[test]
    fn challenge_format() {
        let s = server();
        let c = s.challenge(T0, false);
        assert_eq!(
            c,
            format!(
                r#"Digest realm="3402000000", nonce="{}", qop="auth", algorithm=MD5"#,
                s.nonce(T0)
            )
        );
        assert_eq!(s.nonce(T0).len(), 48);
        assert!(
            s.with_qop(false)
                .challenge(T0, true)
                .ends_with(", algorithm=MD5, stale=true")
        );
    }

    #[test]
    fn verifies_with_password_and_with_stored_ha1() {
        let mut s = server();
        let a = answer(&s, T0, "12345678", 1);
        assert_eq!(
            s.verify(&a, "REGISTER", Credential::Password("12345678"), T0 + 10),
            Verdict::Ok
        );
        let a2 = answer(&s, T0, "12345678", 1);
        let h = ha1(GB_USER, GB_REALM, "12345678", Algorithm::Md5).to_uppercase();
        let mut s2 = server();
        assert_eq!(
            s2.verify(&a2, "REGISTER", Credential::Ha1(&h), T0 + 10),
            Verdict::Ok
        );
    }

    #[test]
    fn wrong_password_is_wrong_response() {
        let mut s = server();
        let a = answer(&s, T0, "wrong", 1);
        assert_eq!(
            s.verify(&a, "REGISTER", Credential::Password("12345678"), T0),
            Verdict::Invalid(Rejection::WrongResponse)
        );
    }

    #[test]
    fn expired_nonce_with_right_password_is_stale() {
        let mut s = server();
        let a = answer(&s, T0, "12345678", 1);
        let later = T0 + TTL.as_millis() as u64 + 1;
        assert_eq!(
            s.verify(&a, "REGISTER", Credential::Password("12345678"), later),
            Verdict::Stale
        );
        // ...but a wrong password on an expired nonce is not "stale".
        let bad = answer(&s, T0, "nope", 2);
        assert_eq!(
            s.verify(&bad, "REGISTER", Credential::Password("12345678"), later),
            Verdict::Invalid(Rejection::WrongResponse)
        );
    }

    #[test]
    fn replayed_nonce_count_is_rejected() {
        let mut s = server();
        let a1 = answer(&s, T0, "12345678", 1);
        let pw = Credential::Password("12345678");
        assert_eq!(s.verify(&a1, "REGISTER", pw, T0), Verdict::Ok);
        assert_eq!(
            s.verify(&a1, "REGISTER", pw, T0 + 1),
            Verdict::Invalid(Rejection::Replay)
        );
        let a2 = answer(&s, T0, "12345678", 2);
        assert_eq!(s.verify(&a2, "REGISTER", pw, T0 + 2), Verdict::Ok);
        assert_eq!(
            s.verify(&a1, "REGISTER", pw, T0 + 3),
            Verdict::Invalid(Rejection::Replay)
        );
    }

    #[test]
    fn two_devices_challenged_in_the_same_millisecond_both_authenticate() {
        // Same instant, same nonce: the first nc=1 must not make the other's nc=1 a replay.
        let mut s = server();
        let ch = Challenge::parse(&s.challenge(T0, false)).unwrap();
        let pw = Credential::Password("12345678");
        for user in ["34020000001320000001", "34020000001320000002"] {
            let a = auth(
                &authorize(
                    &ch,
                    "REGISTER",
                    GB_URI,
                    user,
                    &Secret::new("12345678"),
                    "c0ffee",
                    1,
                )
                .unwrap(),
            );
            assert_eq!(s.verify(&a, "REGISTER", pw, T0), Verdict::Ok, "{user}");
        }
    }

    #[test]
    fn nc_table_is_bounded() {
        let mut s = server();
        let pw = Credential::Password("12345678");
        for i in 0..(NC_TABLE_CAPACITY as u64 + 10) {
            let a = answer(&s, T0 + i, "12345678", 1);
            assert_eq!(s.verify(&a, "REGISTER", pw, T0 + i), Verdict::Ok);
        }
        assert_eq!(s.order.len(), NC_TABLE_CAPACITY);
        assert_eq!(s.highest_nc.len(), NC_TABLE_CAPACITY);
    }

    #[test]
    fn forged_or_foreign_nonce_is_rejected() {
        let mut s = server();
        let other = DigestServer::new(b"another secret", GB_REALM, TTL);
        let a = answer(&other, T0, "12345678", 1);
        assert_eq!(
            s.verify(&a, "REGISTER", Credential::Password("12345678"), T0),
            Verdict::Invalid(Rejection::BadNonce)
        );
        let future = answer(&s, T0 + 3_600_000, "12345678", 1);
        assert_eq!(
            s.verify(&future, "REGISTER", Credential::Password("12345678"), T0),
            Verdict::Invalid(Rejection::BadNonce)
        );
    }

    #[test]
    fn lowercase_algorithm_and_no_qop_are_accepted() {
        let mut s = server().with_qop(false);
        let nonce = s.nonce(T0);
        let ch = Challenge::parse(&format!(
            r#"Digest realm="{GB_REALM}", nonce="{nonce}", algorithm=md5"#
        ))
        .unwrap();
        let v = authorize(
            &ch,
            "REGISTER",
            GB_URI,
            GB_USER,
            &Secret::new("12345678"),
            "x",
            1,
        )
        .unwrap();
        let v = v.replace("algorithm=MD5", "algorithm=md5");
        assert_eq!(
            s.verify(&auth(&v), "REGISTER", Credential::Password("12345678"), T0),
            Verdict::Ok
        );
        // Without qop there is no nc, so re-use within the nonce lifetime is allowed (RFC 2069).
        assert_eq!(
            s.verify(
                &auth(&v),
                "REGISTER",
                Credential::Password("12345678"),
                T0 + 5
            ),
            Verdict::Ok
        );
    }

    #[test]
    fn sha256_round_trip_and_ha1_length_check() {
        let mut s = server().with_algorithm(Algorithm::Sha256);
        let a = answer(&s, T0, "12345678", 1);
        assert_eq!(a.algorithm(), Some("SHA-256"));
        assert_eq!(a.response().unwrap().len(), 64);
        let h = ha1(GB_USER, GB_REALM, "12345678", Algorithm::Sha256);
        assert_eq!(
            s.verify(&a, "REGISTER", Credential::Ha1(&h), T0),
            Verdict::Ok
        );
        let md5_ha1 = ha1(GB_USER, GB_REALM, "12345678", Algorithm::Md5);
        let a2 = answer(&s, T0, "12345678", 2);
        assert_eq!(
            s.verify(&a2, "REGISTER", Credential::Ha1(&md5_ha1), T0),
            Verdict::Invalid(Rejection::Ha1Mismatch)
        );
    }

    #[test]
    fn md5_sess_round_trip() {
        let mut s = server().with_algorithm(Algorithm::Md5Sess);
        let a = answer(&s, T0, "12345678", 1);
        assert_eq!(
            s.verify(&a, "REGISTER", Credential::Password("12345678"), T0),
            Verdict::Ok
        );
    }

    #[test]
    fn missing_params_and_wrong_realm() {
        let mut s = server();
        let pw = Credential::Password("x");
        assert_eq!(
            s.verify(&auth(r#"Basic abc=1"#), "REGISTER", pw, T0),
            Verdict::Invalid(Rejection::NotDigest)
        );
        assert_eq!(
            s.verify(
                &auth(r#"Digest username="a", realm="r""#),
                "REGISTER",
                pw,
                T0
            ),
            Verdict::Invalid(Rejection::Missing("nonce"))
        );
        assert_eq!(
            s.verify(
                &auth(r#"Digest username="a", realm="other", nonce="n", uri="u", response="r""#),
                "REGISTER",
                pw,
                T0
            ),
            Verdict::Invalid(Rejection::WrongRealm)
        );
        let a = answer(&s, T0, "x", 1);
        let v = a.to_string().replace("algorithm=MD5", "algorithm=SHA-512");
        assert_eq!(
            s.verify(&auth(&v), "REGISTER", pw, T0),
            Verdict::Invalid(Rejection::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        assert_eq!(format!("{:?}", Secret::new("12345678")), "***");
        assert_eq!(
            format!("{:?}", Credential::Password("12345678")),
            "Password(***)"
        );
        let d = format!("{:?}", server());
        assert!(!d.contains("server secret"));
    }
}
