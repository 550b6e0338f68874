//! Turning typed events into `(event_type, schema_version, data)` and back, with upcasting.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

/// An event as the store keeps it: a stable type name, a schema version and a JSON object,
/// and what it holds of a person (declared by the event type, so the store stays schema-free).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    pub event_type: String,
    pub schema_version: i32,
    pub data: Value,
    pub personal: Personal,
}

impl EncodedEvent {
    /// An event with no personal data.
    pub fn new(event_type: impl Into<String>, schema_version: i32, data: Value) -> Self {
        Self {
            event_type: event_type.into(),
            schema_version,
            data,
            personal: Personal::default(),
        }
    }
}

/// What an event holds of a person: the store seals `fields` (top-level fields of `data`)
/// with the key of `subject` before hashing, and an event that `erases` its subject deletes
/// that key in its own transaction (crypto-shredding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Personal {
    pub fields: &'static [&'static str],
    /// Whose data it is; `None` for an event whose fields belong to the person of its
    /// stream's earlier events (the store takes the subject from them).
    pub subject: Option<uuid::Uuid>,
    pub erases: bool,
}

impl Personal {
    pub fn fields(fields: &'static [&'static str], subject: Option<uuid::Uuid>) -> Self {
        Self {
            fields,
            subject,
            erases: false,
        }
    }

    pub fn erasing(subject: uuid::Uuid) -> Self {
        Self {
            fields: &[],
            subject: Some(subject),
            erases: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("event {event_type} v{schema_version}: {source}")]
    Invalid {
        event_type: String,
        schema_version: i32,
        source: serde_json::Error,
    },
    #[error("event data is not a JSON object")]
    NotAnObject,
}

/// Every aggregate's event enum is internally tagged by `type` (serde `tag = "type"`); the tag
/// becomes the stored `event_type` and the remaining fields the stored `data`.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The current schema version of every event of this enum. Bump it together with an
    /// upcaster in [`DomainEvent::upcast`] whenever a shipped event changes shape.
    const SCHEMA_VERSION: i32 = 1;

    /// The event types this enum decodes; used to tell whether a stored event belongs here.
    fn event_types() -> &'static [&'static str];

    /// Rewrites stored data of an older schema version into the current shape.
    fn upcast(_event_type: &str, _from_version: i32, data: Value) -> Value {
        data
    }

    /// What this event holds of a person (nothing, unless the enum declares it).
    fn personal(&self) -> Personal {
        Personal::default()
    }

    fn encode(&self) -> EncodedEvent {
        let mut value = serde_json::to_value(self).expect("events serialise to JSON");
        let object = value.as_object_mut().expect("events are JSON objects");
        let event_type = match object.remove("type") {
            Some(Value::String(t)) => t,
            _ => unreachable!("events are internally tagged by `type`"),
        };
        EncodedEvent {
            event_type,
            schema_version: Self::SCHEMA_VERSION,
            data: value,
            personal: self.personal(),
        }
    }

    fn decode(event_type: &str, schema_version: i32, data: &Value) -> Result<Self, DecodeError> {
        if !Self::event_types().contains(&event_type) {
            return Err(DecodeError::UnknownType(event_type.to_owned()));
        }
        let data = if schema_version < Self::SCHEMA_VERSION {
            Self::upcast(event_type, schema_version, data.clone())
        } else {
            data.clone()
        };
        let Value::Object(mut object) = data else {
            return Err(DecodeError::NotAnObject);
        };
        object.insert("type".into(), Value::String(event_type.to_owned()));
        serde_json::from_value(Value::Object(object)).map_err(|source| DecodeError::Invalid {
            event_type: event_type.to_owned(),
            schema_version,
            source,
        })
    }

    fn event_type(&self) -> String {
        self.encode().event_type
    }
}

/// `impl DomainEvent for $enum` (its type names are its variants') and
/// `impl $enum { pub fn $field(&self) -> Uuid }`, for an event enum every variant of which
/// carries the id of its aggregate in `$field`.
#[macro_export]
macro_rules! domain_event {
    ($enum:ident, $field:ident, $($variant:ident),+ $(,)?) => {
        $crate::domain_event!(@impl $enum, $field, [$($variant),+], {});
    };
    // `personal = f`: `f(&self) -> Personal` declares the event's personal data.
    ($enum:ident, $field:ident, personal = $personal:path, $($variant:ident),+ $(,)?) => {
        $crate::domain_event!(@impl $enum, $field, [$($variant),+], {
            fn personal(&self) -> $crate::codec::Personal {
                $personal(self)
            }
        });
    };
    // `schema = N, upcast = g`: the enum's schema version and `g(type, from, data) -> data`,
    // which rewrites what older versions stored (a shipped event never changes shape).
    ($enum:ident, $field:ident, personal = $personal:path, schema = $schema:expr,
     upcast = $upcast:path, $($variant:ident),+ $(,)?) => {
        $crate::domain_event!(@impl $enum, $field, [$($variant),+], {
            const SCHEMA_VERSION: i32 = $schema;

            fn personal(&self) -> $crate::codec::Personal {
                $personal(self)
            }

            fn upcast(event_type: &str, from_version: i32, data: ::serde_json::Value)
                -> ::serde_json::Value {
                $upcast(event_type, from_version, data)
            }
        });
    };
    (@impl $enum:ident, $field:ident, [$($variant:ident),+], { $($extra:item)* }) => {
        impl $crate::DomainEvent for $enum {
            $crate::event_types!($($variant),+);
            $($extra)*
        }

        impl $enum {
            pub fn $field(&self) -> ::uuid::Uuid {
                match self {
                    $(Self::$variant { $field, .. })|+ => *$field,
                }
            }
        }
    };
}

/// Declares the list of type names of an event enum from its variants.
#[macro_export]
macro_rules! event_types {
    ($($name:ident),+ $(,)?) => {
        fn event_types() -> &'static [&'static str] {
            &[$(stringify!($name)),+]
        }
    };
}
