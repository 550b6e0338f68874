//! The limits of shared kinds of input, as OpenAPI schemas for the route annotations
//! (`#[schema(schema_with = limits::phone)]`, `#[param(schema_with = limits::phone)]`), so
//! the document says what the domain's parsers accept and a schema-valid request is never
//! refused. Each mirrors one parser; change both together. (Control characters and unknown
//! body members are stated for every route by [`super::openapi`].)

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// `domain::phone::Msisdn`: `07…`, `01…`, `+254…`, `254…` and nine digits after the 0.
pub fn phone() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^(\+?254|0)[71][0-9]{8}$"))
        .description(Some(
            "A Kenyan mobile number: `07…`, `01…`, `+2547…`, `2547…` (M-Pesa)",
        ))
        .build()
}

/// `domain::validate::Email`: one `@`, a dotted domain, 64 bytes before the `@`, 254 in all
/// (stated in ASCII, where characters and bytes agree).
pub fn email() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(254))
        .pattern(Some(r"^[!-?A-~]{1,64}@[!-\-/-?A-~]+(\.[!-\-/-?A-~]+)+$"))
        .build()
}

/// `auth::password`: 8 to 128 characters.
pub fn password() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(crate::auth::password::MIN_PASSWORD_CHARS))
        .max_length(Some(crate::auth::password::MAX_PASSWORD_CHARS))
        .pattern(Some(super::openapi_input::JSON_TEXT))
        .build()
}

/// `domain::validate::CategorySlug`: lower-case letters and digits in dash-separated words.
pub fn category() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(50))
        .pattern(Some(r"^[a-z0-9]+(-[a-z0-9]+)*$"))
        .build()
}

/// One line of text with something besides spaces in it, `max` characters at most
/// (`domain::validate::text` trims, then counts).
fn line(max: usize) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(
            r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        ))
        .build()
}

/// A person's name (`PersonName`).
pub fn person_name() -> Object {
    line(100)
}

/// A product's name (`ProductName`).
pub fn product_name() -> Object {
    line(200)
}

/// `Gender`: free text.
pub fn gender() -> Object {
    line(30)
}

/// A stock adjustment's reason.
pub fn reason() -> Object {
    line(200)
}

/// A refund's reason (`domain::order::refunding`).
pub fn refund_reason() -> Object {
    line(500)
}

/// A product's description (`Description`): may span lines, may be empty.
pub fn description() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(5000))
        .pattern(Some(super::openapi_input::JSON_TEXT))
        .build()
}

/// `domain::money::parse_currency`: only Kenyan shillings.
pub fn currency() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["KES"]))
        .build()
}

/// `?limit=` of every list (API.md, Conventions).
pub fn page_limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(100))
        .description(Some("1 to 100, default 20"))
        .build()
}

/// `?cursor=`: only ever a `next_cursor` this list gave out.
pub fn cursor() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^[A-Za-z0-9_-]*$"))
        .description(Some(
            "`next_cursor` of the previous page (opaque; empty: the first page; any other \
             value is a 400)",
        ))
        .build()
}

/// `domain::validate::Role`.
pub fn role() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["customer", "seller", "admin", "auditor"]))
        .build()
}

/// Optional single-line text, `max` characters once trimmed; blank counts as absent.
fn optional_line(max: usize) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .pattern(Some(super::openapi_input::SINGLE_LINE))
        .build()
}

/// Why an order is cancelled.
pub fn cancel_reason() -> Object {
    optional_line(500)
}

/// A shipment's carrier or tracking number.
pub fn shipment_text() -> Object {
    optional_line(100)
}

/// A shipment's note for the customer (shown in the order's tracking history).
pub fn shipment_note() -> Object {
    optional_line(500)
}

/// A webhook's URL: `http(s)://`, at most 2,000 bytes (stated in ASCII). Whether its host
/// resolves to an address the server may call is only known when it is checked.
pub fn webhook_url() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
        .max_length(Some(2000))
        .pattern(Some(r"^https?://[!-~]+$"))
        .build()
}

/// Known event types, or `["*"]` alone.
pub fn event_types() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
    let mut types: Vec<&str> = tillroll_events::all_event_types().to_vec();
    types.sort_unstable();
    OneOfBuilder::new()
        .item(
            ArrayBuilder::new()
                .items(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(types)),
                )
                .min_items(Some(1))
                .max_items(Some(100)),
        )
        .item(
            ArrayBuilder::new()
                .items(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["*"])),
                )
                .min_items(Some(1))
                .max_items(Some(1)),
        )
        .build()
        .into()
}

/// A webhook's description: 500 characters, may span lines.
pub fn webhook_description() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(500))
        .pattern(Some(super::openapi_input::JSON_TEXT))
        .build()
}

/// `GET /products?sort=`.
pub fn product_sort() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["newest", "price_asc", "price_desc", "name"]))
        .build()
}

/// An order's `status`, as a filter.
pub fn payout_status() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["requested", "completed", "failed"]))
        .build()
}

/// A refund's amount: minor units of whole shillings (M-Pesa B2C pays no cents), at least 1.
pub fn refund_amount() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(100))
        .multiple_of(Some(100))
        .description(Some(
            "minor units of whole shillings; less than KES 10 (1000) is refused with 409",
        ))
        .build()
}

pub fn order_status() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([
            "pending_payment",
            "paid",
            "shipped",
            "delivered",
            "cancelled",
            "expired",
            "refunded",
        ]))
        .build()
}
