//! Input rules shared by the PKI builder and the cfssl import.

use std::net::IpAddr;

use super::{Error, Result, Subject};

/// Longest validity accepted, in days (100 years).
pub(crate) const MAX_VALIDITY_DAYS: i64 = 36_500;

/// A SAN as given by a user: an IP address or a DNS name (wildcards allowed
/// in the left-most label).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum San {
    Ip(IpAddr),
    Dns(String),
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Ip(ip) => write!(f, "{ip}"),
            San::Dns(d) => f.write_str(d),
        }
    }
}

/// Whether `s` is a DNS name usable in a certificate SAN (RFC 1123 labels,
/// an optional `*.` wildcard prefix, at most 253 characters).
pub(crate) fn is_dns_name(s: &str) -> bool {
    let body = s.strip_prefix("*.").unwrap_or(s);
    if body.is_empty() || s.len() > 253 {
        return false;
    }
    body.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// Parses a SAN given as text, naming `field` in the error.
pub(crate) fn parse_san(field: &str, value: &str) -> Result<San> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(San::Ip(ip));
    }
    // Something that looks like a dotted quad but did not parse is a bad IP,
    // not a DNS name: say so.
    let looks_numeric = value.bytes().all(|b| b.is_ascii_digit() || b == b'.') && value.contains('.');
    if looks_numeric {
        return Err(Error::invalid(field, value, "not a valid IP address"));
    }
    if is_dns_name(value) {
        Ok(San::Dns(value.to_ascii_lowercase()))
    } else {
        Err(Error::invalid(
            field,
            value,
            "not an IP address nor a DNS name (letters, digits, '-' and '.', labels of 1-63 characters)",
        ))
    }
}

/// Checks an etcd member name: it becomes a file name, a SAN and an etcd
/// `--name`, so it is limited to a DNS label-like charset.
pub(crate) fn check_member_name(field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            name,
            "member names are 1-63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        ))
    }
}

/// Checks a validity in days.
pub(crate) fn check_validity(field: &str, days: i64) -> Result<()> {
    if days <= 0 {
        return Err(Error::invalid(field, days.to_string(), "validity must be at least 1 day"));
    }
    if days > MAX_VALIDITY_DAYS {
        return Err(Error::invalid(
            field,
            days.to_string(),
            format!("validity must be at most {MAX_VALIDITY_DAYS} days"),
        ));
    }
    Ok(())
}

/// Checks the fields of a subject (`field` is the subject's path).
pub(crate) fn check_subject(field: &str, s: &Subject) -> Result<()> {
    if s.common_name.trim().is_empty() {
        return Err(Error::invalid(format!("{field}.common_name"), &s.common_name, "must not be empty"));
    }
    if s.common_name.len() > 64 {
        return Err(Error::invalid(
            format!("{field}.common_name"),
            &s.common_name,
            "at most 64 characters (X.509 upper bound)",
        ));
    }
    if let Some(c) = &s.country
        && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(Error::invalid(format!("{field}.country"), c, "a two-letter ISO 3166 country code"));
    }
    for (name, v) in [
        ("organization", &s.organization),
        ("organizational_unit", &s.organizational_unit),
        ("state", &s.state),
        ("locality", &s.locality),
    ] {
        if let Some(v) = v
            && (v.trim().is_empty() || v.len() > 128)
        {
            return Err(Error::invalid(format!("{field}.{name}"), v, "1-128 characters when given"));
        }
    }
    for (name, v) in [("common_name", Some(&s.common_name)), ("organization", s.organization.as_ref())] {
        if let Some(v) = v
            && v.chars().any(char::is_control)
        {
            return Err(Error::invalid(format!("{field}.{name}"), v, "control characters are not allowed"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        for ok in ["localhost", "etcd01", "a.b-c.example", "*.example.com", "x1"] {
            assert!(is_dns_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a..b", "a b", "*", "*.", "a_b", &"a".repeat(64)] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn bad_ip_is_named_as_ip() {
        let e = parse_san("members[0].addresses[0]", "192.168.1.300").unwrap_err().to_string();
        assert!(e.contains("members[0].addresses[0]") && e.contains("192.168.1.300") && e.contains("IP"), "{e}");
        assert_eq!(parse_san("f", "::1").unwrap(), San::Ip("::1".parse().unwrap()));
        assert_eq!(parse_san("f", "Etcd01").unwrap(), San::Dns("etcd01".into()));
    }

    #[test]
    fn member_names() {
        assert!(check_member_name("n", "etcd01").is_ok());
        for bad in ["", "-x", "x-", "a/b", "a b", "é"] {
            assert!(check_member_name("members[2].name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validity_bounds() {
        assert!(check_validity("v", 0).is_err());
        assert!(check_validity("v", -5).unwrap_err().to_string().contains("-5"));
        assert!(check_validity("v", 1).is_ok());
        assert!(check_validity("v", MAX_VALIDITY_DAYS + 1).is_err());
    }

    #[test]
    fn subjects() {
        assert!(check_subject("ca.subject", &Subject::new("")).unwrap_err().to_string().contains("ca.subject.common_name"));
        assert!(check_subject("s", &Subject::new("x").country("CHN")).is_err());
        assert!(check_subject("s", &Subject::new("x").country("CN").state("Beijing")).is_ok());
    }
}
