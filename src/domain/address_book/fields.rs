//! An address's fields parsed at the edge: lengths in characters once trimmed, no control
//! characters, the phone normalised like every other phone, the country an ISO 3166-1 alpha-2
//! code. The limits here are the ones the OpenAPI document declares (`http::views::address`).

use crate::domain::phone::Msisdn;
use crate::domain::validate::{FieldError, text};

pub const LABEL_MAX: usize = 50;
pub const RECIPIENT_MAX: usize = 100;
pub const LINE_MAX: usize = 200;
pub const CITY_MAX: usize = 100;
pub const REGION_MAX: usize = 100;
pub const POSTAL_CODE_MAX: usize = 20;
pub const DEFAULT_COUNTRY: &str = "KE";

/// A required text field: 1 to `max` characters once trimmed.
pub fn required(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    text(field, raw, 1, max, false)
}

/// An optional text field: at most `max` characters; blank means none.
pub fn optional(field: &'static str, raw: &str, max: usize) -> Result<Option<String>, FieldError> {
    text(field, raw, 0, max, false).map(|t| Some(t).filter(|t| !t.is_empty()))
}

/// A phone as everywhere else (`2547…`); blank means none.
pub fn phone(raw: &str) -> Result<Option<String>, FieldError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    Msisdn::parse(raw).map(|m| Some(m.as_str().to_owned()))
}

/// Two upper-case letters that ISO 3166-1 assigns.
pub fn country(raw: &str) -> Result<String, FieldError> {
    if COUNTRIES.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(
            "country",
            "must be an ISO 3166-1 alpha-2 code in upper case, such as KE",
        ))
    }
}

/// The officially assigned ISO 3166-1 alpha-2 codes.
pub const COUNTRIES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_unique_upper_case_pairs() {
        assert!(COUNTRIES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            COUNTRIES
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        assert!(country("KE").is_ok());
        assert_eq!(country("ke").unwrap_err().field, "country");
        assert_eq!(country("ZZ").unwrap_err().field, "country");
    }

    #[test]
    fn text_fields_trim_refuse_control_characters_and_blank_optional_is_none() {
        assert_eq!(required("city", "  Nairobi ", CITY_MAX).unwrap(), "Nairobi");
        assert_eq!(required("city", " ", CITY_MAX).unwrap_err().field, "city");
        assert!(required("line1", "a\u{7}b", LINE_MAX).is_err());
        assert_eq!(optional("line2", "  ", LINE_MAX).unwrap(), None);
        assert!(optional("label", &"x".repeat(LABEL_MAX + 1), LABEL_MAX).is_err());
        assert_eq!(phone("0712 345 678").unwrap().unwrap(), "254712345678");
        assert_eq!(phone("12").unwrap_err().field, "phone");
    }
}
