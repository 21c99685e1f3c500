//! Email addresses: parsed once at the edge, so the rest of the code only sees valid ones.

use std::fmt;

use keyward_proto::ErrorCode;

use crate::Error;

/// A syntactically valid email address, normalised: trimmed, domain lower-cased (and an
/// internationalised domain turned into its ASCII `xn--` form, so look-alike Unicode letters
/// cannot make a second account for the same mailbox).
///
/// The local part keeps its case for display, but accounts are looked up by [`Email::key`], the
/// whole address lower-cased: `Alice@Example.com` and `alice@example.com` are one account, as
/// every mail provider people use treats them.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    address: String,
    key: String,
}

const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

impl Email {
    /// Parses and normalises `input`; `invalid_email` when it is not an address we accept.
    ///
    /// Accepted: `local@domain` where the local part is dot-separated runs of RFC 5322 `atext`
    /// (ASCII letters, digits and ``!#$%&'*+-/=?^_`{|}~``) and the domain has at least two
    /// labels. Refused: quoted local parts, IP-literal domains, Unicode in the local part,
    /// anything with spaces or control characters. These are legal but vanishingly rare, and
    /// each has been a source of confusion or injection bugs.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let trimmed = input.trim();
        let invalid = |why: &str| {
            Error::rejected(
                ErrorCode::InvalidEmail,
                format!("That is not a valid email address: {why}."),
            )
        };
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        let (local, domain) = trimmed
            .rsplit_once('@')
            .ok_or_else(|| invalid("it has no @"))?;
        if local.is_empty() || local.len() > MAX_LOCAL_LEN {
            return Err(invalid("the part before @ must be 1 to 64 characters"));
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        if local
            .split('.')
            .any(|run| run.is_empty() || !run.chars().all(atext))
        {
            return Err(invalid(
                "the part before @ has a character that is not allowed",
            ));
        }
        let domain = idna::domain_to_ascii(domain)
            .map_err(|_| invalid("the domain is not a valid domain name"))?;
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |label: &&str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(invalid("the domain is not a valid domain name"));
        }
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid("the domain is not a valid domain name"));
        }
        let address = format!("{local}@{domain}");
        if address.len() > MAX_LEN {
            return Err(invalid("it is longer than 254 characters"));
        }
        let key = address.to_ascii_lowercase();
        Ok(Self { address, key })
    }

    /// The address as it is shown and stored.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The lookup key: the whole address lower-cased.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_their_domain_lowercased() {
        let email = Email::parse("  Alice.Smith+tag@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "Alice.Smith+tag@example.com");
        assert_eq!(email.key(), "alice.smith+tag@example.com");
    }

    #[test]
    fn unicode_domains_become_their_ascii_form() {
        let email = Email::parse("bob@bücher.example").unwrap();
        assert_eq!(email.as_str(), "bob@xn--bcher-kva.example");
    }

    #[test]
    fn malformed_or_risky_addresses_are_refused() {
        for bad in [
            "",
            "plainaddress",
            "@example.com",
            "alice@",
            "alice@localhost",
            "alice@@example.com",
            "al ice@example.com",
            "alice..smith@example.com",
            ".alice@example.com",
            "\"quoted\"@example.com",
            "alice@[127.0.0.1]",
            "alice@127.0.0.1",
            "alice@-example.com",
            "alice@example..com",
            "ålice@example.com",
            "alice@exa mple.com",
            "alice@example.com\0",
            "' OR 1=1 --@example.com",
        ] {
            let err = Email::parse(bad).expect_err(bad);
            assert_eq!(err.code(), Some(ErrorCode::InvalidEmail), "{bad:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
    }
}
