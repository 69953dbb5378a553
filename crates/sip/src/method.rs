//! SIP request methods. Method names are case-sensitive (RFC 3261 §7.1): `register` is an unknown method.

use std::fmt;

/// A SIP method; unknown extension methods are kept as [`Method::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Register,
    Message,
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Subscribe,
    Notify,
    Refer,
    Update,
    Prack,
    Publish,
    /// Any other token, kept verbatim.
    Other(String),
}

impl Method {
    /// Map a method token; does not validate token characters (the parser does).
    pub fn from_token(s: &str) -> Method {
        match s {
            "REGISTER" => Method::Register,
            "MESSAGE" => Method::Message,
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method name as it goes on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Register => "REGISTER",
            Method::Message => "MESSAGE",
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }

    /// True when `self` matches the method name `s` exactly (case-sensitive), without allocating.
    pub fn is(&self, s: &str) -> bool {
        self.as_str() == s
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = crate::HeaderError;
    /// Parse a method token; rejects empty strings and non-token characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if crate::text::is_token(s) {
            Ok(Method::from_token(s))
        } else {
            Err(crate::HeaderError::new("method", "not a token", 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_case_sensitive() {
        assert_eq!(Method::from_token("REGISTER"), Method::Register);
        assert_eq!(
            Method::from_token("register"),
            Method::Other("register".into())
        );
    }

    #[test]
    fn unknown_method_round_trips() {
        let m: Method = "NEWMETHOD".parse().unwrap();
        assert_eq!(m.as_str(), "NEWMETHOD");
        assert!("BAD METHOD".parse::<Method>().is_err());
    }
}
