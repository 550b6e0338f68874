//! Request fields parsed at the edge into newtypes: a value of one of these types is valid by
//! construction, so deciders never re-check it. Each `parse` names the offending field in a
//! [`FieldError`], which the HTTP layer renders as a 400 with `errors: [{field, message}]`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One invalid request field (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Trims `raw` and checks its length in characters; control characters are refused unless
/// `multiline` (then only newlines and tabs pass).
pub(crate) fn text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, FieldError> {
    // Control characters are looked for before trimming, so a tab or newline at the end of
    // a single-line field is refused like one in the middle (as the OpenAPI document says).
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if raw.chars().any(bad) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    let value = raw.trim();
    let len = value.chars().count();
    if len < min {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if len > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:literal ..= $max:literal, $multiline:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                text($field, raw, $min, $max, $multiline).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_newtype!(
    /// A product's name: 1 to 200 characters once trimmed.
    ProductName, "name", 1..=200, false
);
text_newtype!(
    /// A product's description: at most 5000 characters once trimmed; may be empty.
    Description, "description", 0..=5000, true
);
text_newtype!(
    /// A person's display name: 1 to 100 characters once trimmed.
    PersonName, "name", 1..=100, false
);
text_newtype!(
    /// Free text, 1 to 30 characters once trimmed. Free text rather than an enum: people
    /// describe themselves, the shop only displays it, and no rule depends on it. It cannot
    /// be cleared (in `ProfileUpdated` an absent field means "unchanged").
    Gender, "gender", 1..=30, false
);

/// How many of one product a cart line or order line may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 1000;

    pub fn parse(n: i64) -> Result<Self, FieldError> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(FieldError::new(
                "quantity",
                format!("must be between 1 and {}", Self::MAX),
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A category slug such as `home-office`: lower-case letters and digits in dash-separated
/// words, at most 50 characters. Not lower-cased for the caller: `Phones` is refused, so one
/// category never shows under two spellings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategorySlug(String);

impl CategorySlug {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let slug = raw.trim();
        let word_ok = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        if slug.len() > 50 {
            return Err(FieldError::new("category", "must be at most 50 characters"));
        }
        if !slug.split('-').all(word_ok) {
            return Err(FieldError::new(
                "category",
                "must be lower-case letters and digits in dash-separated words, like home-office",
            ));
        }
        Ok(Self(slug.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address as the user typed it (trimmed); two addresses are the same account when
/// they match ignoring case ([`Email::key`]).
#[derive(Debug, Clone)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim();
        let invalid = || Err(FieldError::new("email", "must be an e-mail address"));
        if email.len() > 254 {
            return Err(FieldError::new("email", "must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid();
        }
        let Some((local, domain)) = email.split_once('@') else {
            return invalid();
        };
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return invalid();
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased form: the key for uniqueness and log-in look-ups.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl PartialEq for Email {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Email {}

impl std::hash::Hash for Email {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Customer,
    Seller,
    Admin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Customer, Role::Seller, Role::Admin, Role::Auditor];

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw.trim() {
            "customer" => Ok(Self::Customer),
            "seller" => Ok(Self::Seller),
            "admin" => Ok(Self::Admin),
            "auditor" => Ok(Self::Auditor),
            _ => Err(FieldError::new(
                "role",
                "must be one of customer, seller, admin, auditor",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Seller => "seller",
            Self::Admin => "admin",
            Self::Auditor => "auditor",
        }
    }
}

/// Exact, case-sensitive match on the wire names.
impl std::str::FromStr for Role {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, FieldError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                FieldError::new("role", "must be one of customer, seller, admin, auditor")
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Images (product pictures, avatars) are named by the lowercase hex SHA-256 of their bytes.
pub fn is_image_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The authenticated user issuing a command, for the rules that depend on who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: Uuid,
    pub role: Role,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_is_one_to_a_thousand() {
        assert_eq!(Quantity::parse(1).map(Quantity::get), Ok(1));
        assert_eq!(Quantity::parse(1000).map(Quantity::get), Ok(1000));
        for bad in [0, -1, 1001, i64::MAX, i64::MIN] {
            assert_eq!(Quantity::parse(bad).unwrap_err().field, "quantity");
        }
    }

    #[test]
    fn product_name_is_trimmed_and_bounded() {
        assert_eq!(ProductName::parse("  Kettle ").unwrap().as_str(), "Kettle");
        assert_eq!(ProductName::parse("   ").unwrap_err().field, "name");
        assert!(
            ProductName::parse(&"é".repeat(200)).is_ok(),
            "counts characters, not bytes"
        );
        assert!(ProductName::parse(&"a".repeat(201)).is_err());
        assert!(ProductName::parse("a\u{0}b").is_err());
        assert!(ProductName::parse("two\nlines").is_err());
    }

    #[test]
    fn description_may_be_empty_or_multiline_up_to_5000() {
        assert_eq!(Description::parse("").unwrap().as_str(), "");
        assert!(Description::parse("line one\nline two\ttab").is_ok());
        assert!(Description::parse(&"x".repeat(5000)).is_ok());
        assert_eq!(
            Description::parse(&"x".repeat(5001)).unwrap_err().field,
            "description"
        );
        assert!(Description::parse("bell\u{7}").is_err());
    }

    #[test]
    fn person_name_and_gender_bounds() {
        assert!(PersonName::parse("Wanjiru Kamau").is_ok());
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse(&"a".repeat(101)).is_err());
        assert_eq!(Gender::parse(" female ").unwrap().as_str(), "female");
        assert!(Gender::parse(&"a".repeat(31)).is_err());
        assert_eq!(Gender::parse("").unwrap_err().field, "gender");
    }

    #[test]
    fn category_slugs() {
        for ok in ["phones", "home-office", "4k-tv", "a1-b2-c3"] {
            assert_eq!(CategorySlug::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(CategorySlug::parse(" phones ").unwrap().as_str(), "phones");
        for bad in [
            "",
            "Phones",
            "home--office",
            "-home",
            "home-",
            "home office",
            "home_office",
        ] {
            assert_eq!(
                CategorySlug::parse(bad).unwrap_err().field,
                "category",
                "{bad}"
            );
        }
        assert!(CategorySlug::parse(&"a".repeat(50)).is_ok());
        assert!(CategorySlug::parse(&"a".repeat(51)).is_err());
    }

    #[test]
    fn emails_are_kept_as_given_and_compared_ignoring_case() {
        let a = Email::parse(" Wanjiru@Example.co.ke ").unwrap();
        assert_eq!(a.as_str(), "Wanjiru@Example.co.ke");
        assert_eq!(a.key(), "wanjiru@example.co.ke");
        assert_eq!(a, Email::parse("wanjiru@example.CO.KE").unwrap());
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@b@c.com",
            "a b@c.com",
            "a@c..com",
            "a@.com",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().field, "email", "{bad}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(186));
        assert_eq!(long.len(), 255);
        assert!(Email::parse(&long).is_err());
        assert!(Email::parse(&format!("{}@b.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Customer, Role::Seller, Role::Admin, Role::Auditor] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert_eq!(Role::default(), Role::Customer);
        assert_eq!(Role::parse("root").unwrap_err().field, "role");
    }
}
