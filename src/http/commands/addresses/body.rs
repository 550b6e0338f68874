//! The address book's request bodies and their parsing: every wrong field named in one 400.

use serde::{Deserialize, Deserializer};

use crate::commands::addresses::AddressPatch;
use crate::domain::address_book::fields::{self as f, DEFAULT_COUNTRY};
use crate::domain::validate::FieldError;
use crate::http::error::{ApiError, FieldProblem};
use tillroll_events::AddressFields;

/// An ISO 3166-1 alpha-2 code (upper case), as the OpenAPI document lists them.
pub struct CountryCode;

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("ISO 3166-1 alpha-2, upper case"))
            .enum_values(Some(f::COUNTRIES))
            .into()
    }
}

impl utoipa::ToSchema for CountryCode {}

// The schemas' patterns say what `address_book::fields` accepts, so that what the document
// allows is served and what it refuses is refused: text without control characters (and, when
// required, not blank), and a Kenyan mobile number with spaces or dashes anywhere (blank: none;
// the whitespace around it is what every JSON string may hold, `http::input`).
// (Attribute values must be literals, hence the repetition.)

/// A new address. Blank optional fields are none; `country` defaults to `KE`; `default: true`
/// makes it the default (the first address is the default anyway).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddressBody {
    #[schema(
        max_length = 50,
        example = "Home",
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    label: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    recipient: String,
    /// A Kenyan mobile number (`07…`, `01…`, `+2547…`); stored as `2547XXXXXXXX`.
    #[schema(
        example = "0712345678",
        pattern = r"^[^\S\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*(?:[ -]*(?:\+[ -]*2[ -]*5[ -]*4|2[ -]*5[ -]*4|0)[ -]*[17](?:[ -]*[0-9]){8}[ -]*[^\S\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*)?$"
    )]
    phone: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    line1: String,
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    line2: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    city: String,
    #[schema(max_length = 100, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    region: Option<String>,
    #[schema(max_length = 20, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    postal_code: Option<String>,
    #[schema(value_type = Option<CountryCode>)]
    country: Option<String>,
    pub(super) default: Option<bool>,
}

/// Absent fields stay as they are; `null` clears an optional one (`label`, `phone`, `line2`,
/// `region`, `postal_code`) and leaves a required one. `default: true` moves the default here;
/// `false` leaves it where it is (set another address's `default` to move it).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatchBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 50, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    label: Option<Option<String>>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    recipient: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = r"^[^\S\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*(?:[ -]*(?:\+[ -]*2[ -]*5[ -]*4|2[ -]*5[ -]*4|0)[ -]*[17](?:[ -]*[0-9]){8}[ -]*[^\S\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*)?$")]
    phone: Option<Option<String>>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    line1: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    line2: Option<Option<String>>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    city: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    region: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 20, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    postal_code: Option<Option<String>>,
    #[schema(value_type = Option<CountryCode>)]
    country: Option<String>,
    default: Option<bool>,
}

/// A field that is present: `Some(value)`, `Some(None)` for `null` (absent is `None`, by
/// `serde(default)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The first error of each field.
struct Errors(Vec<FieldError>);

impl Errors {
    fn take<T>(&mut self, parsed: Result<T, FieldError>) -> Option<T> {
        parsed.map_err(|e| self.0.push(e)).ok()
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        Err(ApiError::fields(
            self.0
                .into_iter()
                .map(|e| FieldProblem {
                    field: e.field.to_owned(),
                    message: e.message,
                })
                .collect(),
        ))
    }
}

fn optional(e: &mut Errors, field: &'static str, raw: Option<&str>, max: usize) -> Option<String> {
    raw.and_then(|r| e.take(f::optional(field, r, max)).flatten())
}

impl NewAddressBody {
    pub(super) fn parse(&self) -> Result<AddressFields, ApiError> {
        let mut e = Errors(Vec::new());
        let label = optional(&mut e, "label", self.label.as_deref(), f::LABEL_MAX);
        let recipient = e.take(f::required("recipient", &self.recipient, f::RECIPIENT_MAX));
        let phone = self
            .phone
            .as_deref()
            .and_then(|p| e.take(f::phone(p)).flatten());
        let line1 = e.take(f::required("line1", &self.line1, f::LINE_MAX));
        let line2 = optional(&mut e, "line2", self.line2.as_deref(), f::LINE_MAX);
        let city = e.take(f::required("city", &self.city, f::CITY_MAX));
        let region = optional(&mut e, "region", self.region.as_deref(), f::REGION_MAX);
        let postal_code = optional(
            &mut e,
            "postal_code",
            self.postal_code.as_deref(),
            f::POSTAL_CODE_MAX,
        );
        let country = e.take(f::country(
            self.country.as_deref().unwrap_or(DEFAULT_COUNTRY),
        ));
        e.finish()?;
        // Every required field parsed, or `finish` answered the 400.
        let (Some(recipient), Some(line1), Some(city), Some(country)) =
            (recipient, line1, city, country)
        else {
            unreachable!("a required field failed without an error");
        };
        Ok(AddressFields {
            label,
            recipient,
            phone,
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
        })
    }
}

impl AddressPatchBody {
    pub(super) fn parse(&self) -> Result<AddressPatch, ApiError> {
        let mut e = Errors(Vec::new());
        let mut clearable = |field, raw: &Option<Option<String>>, max| match raw {
            None => None,
            Some(None) => Some(None),
            Some(Some(r)) => e.take(f::optional(field, r, max)),
        };
        let label = clearable("label", &self.label, f::LABEL_MAX);
        let line2 = clearable("line2", &self.line2, f::LINE_MAX);
        let region = clearable("region", &self.region, f::REGION_MAX);
        let postal_code = clearable("postal_code", &self.postal_code, f::POSTAL_CODE_MAX);
        let phone = match &self.phone {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) => e.take(f::phone(p)),
        };
        let mut required = |field, raw: &Option<String>, max| {
            raw.as_deref()
                .and_then(|r| e.take(f::required(field, r, max)))
        };
        let recipient = required("recipient", &self.recipient, f::RECIPIENT_MAX);
        let line1 = required("line1", &self.line1, f::LINE_MAX);
        let city = required("city", &self.city, f::CITY_MAX);
        let country = self.country.as_deref().and_then(|c| e.take(f::country(c)));
        e.finish()?;
        Ok(AddressPatch {
            label,
            recipient,
            phone,
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
            default: self.default,
        })
    }
}
