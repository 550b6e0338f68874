//! Kenyan mobile numbers (MSISDN) in the one form Daraja takes: `2547XXXXXXXX` or
//! `2541XXXXXXXX`.

use serde::{Deserialize, Serialize};

use crate::domain::validate::FieldError;

/// A normalised Safaricom-range mobile number, `254` followed by 9 digits starting with 7 or 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Msisdn(String);

impl Msisdn {
    /// Accepts `07…`, `01…`, `+2547…`, `2547…`, `+2541…`, `2541…`, with spaces or dashes
    /// anywhere; anything else is an error on the field `phone`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let national = compact
            .strip_prefix("+254")
            .or_else(|| compact.strip_prefix("254"))
            .or_else(|| compact.strip_prefix('0'));
        match national {
            Some(n)
                if n.len() == 9
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && matches!(n.as_bytes()[0], b'7' | b'1') =>
            {
                Ok(Self(format!("254{n}")))
            }
            _ => Err(FieldError::new(
                "phone",
                "must be a Kenyan mobile number such as 0712345678 or +254712345678",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Msisdn {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, FieldError> {
        Self::parse(&raw)
    }
}

impl From<Msisdn> for String {
    fn from(m: Msisdn) -> String {
        m.0
    }
}

impl std::fmt::Display for Msisdn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        Msisdn::parse(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .into()
    }

    #[test]
    fn normalises_every_accepted_form() {
        for raw in [
            "0712345678",
            "+254712345678",
            "254712345678",
            "0712 345 678",
            "0712-345-678",
            " +254 712-345 678 ",
        ] {
            assert_eq!(ok(raw), "254712345678", "{raw}");
        }
        for raw in [
            "0112345678",
            "+254112345678",
            "254112345678",
            "011 234 5678",
        ] {
            assert_eq!(ok(raw), "254112345678", "{raw}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for raw in [
            "",
            "phone",
            "712345678",        // no prefix
            "071234567",        // too short
            "07123456789",      // too long
            "0212345678",       // landline range
            "+254212345678",    // landline range
            "+2540712345678",   // trunk zero after the country code
            "+255712345678",    // Tanzania
            "254 7123 4567 8x", // letters
            "(0712) 345678",    // only spaces and dashes are tolerated
            "+ 254712345678x",
            "07１2345678", // full-width digit
        ] {
            assert_eq!(Msisdn::parse(raw).unwrap_err().field, "phone", "{raw}");
        }
    }

    #[test]
    fn serde_uses_the_normalised_string_and_validates() {
        let m = Msisdn::parse("0712345678").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"254712345678\"");
        let back: Msisdn = serde_json::from_str("\"+254 712 345 678\"").unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_str::<Msisdn>("\"12345\"").is_err());
    }
}
