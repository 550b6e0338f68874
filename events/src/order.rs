//! Events of the order stream `order-<id>`, payment attempts included.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Currency, domain_event};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: Uuid,
    pub name: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub line_total: i64,
    /// The product's seller when the order was placed (since schema version 3). Older lines
    /// are upcast to `None`: an event decodes alone, and the seller is not in it.
    #[serde(default)]
    pub seller_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OrderEvent {
    OrderPlaced {
        order_id: Uuid,
        /// The owner: whose order it is and who sees it as theirs.
        customer_id: Uuid,
        /// Who placed it: the customer, or an admin on the customer's behalf (since schema
        /// version 2; older events are upcast to the customer).
        placed_by: Uuid,
        items: Vec<OrderLine>,
        total: i64,
        currency: Currency,
        phone: String,
        placed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    /// A new M-Pesa attempt: the payment reactor sends the STK push for it.
    PaymentRequested {
        order_id: Uuid,
        attempt_id: Uuid,
        phone: String,
        amount: i64,
        requested_at: DateTime<Utc>,
    },
    /// Daraja accepted the STK push; the callback will name `checkout_request_id`.
    PaymentRequestAccepted {
        order_id: Uuid,
        attempt_id: Uuid,
        checkout_request_id: String,
        merchant_request_id: String,
    },
    /// The attempt ended without payment: Daraja refused the push, or the customer cancelled,
    /// had no funds, did not answer…  `result_code` is Daraja's code, kept raw.
    PaymentFailed {
        order_id: Uuid,
        attempt_id: Uuid,
        #[serde(default)]
        checkout_request_id: Option<String>,
        result_code: String,
        reason: String,
        /// Money that arrived but could not pay the order (result code `0`: late, after a
        /// cancellation, a second success): its receipt and amount, kept for the refund.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mpesa_receipt: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount: Option<i64>,
    },
    PaymentConfirmed {
        order_id: Uuid,
        attempt_id: Uuid,
        checkout_request_id: String,
        mpesa_receipt: String,
        amount: i64,
        paid_at: DateTime<Utc>,
    },
    /// A success callback whose amount is not the order total: recorded, not accepted.
    PaymentAmountMismatch {
        order_id: Uuid,
        attempt_id: Uuid,
        checkout_request_id: String,
        mpesa_receipt: String,
        amount: i64,
        expected: i64,
    },
    /// Money was received that the shop must give back (paid then cancelled, late payment
    /// with no stock left, wrong amount).
    RefundFlagged { order_id: Uuid, reason: String },
    OrderCancelled {
        order_id: Uuid,
        reason: Option<String>,
        cancelled_at: DateTime<Utc>,
    },
    OrderExpired {
        order_id: Uuid,
        expired_at: DateTime<Utc>,
    },
    OrderShipped {
        order_id: Uuid,
        #[serde(default)]
        carrier: Option<String>,
        #[serde(default)]
        tracking_number: Option<String>,
        /// Free text for the customer (since schema version 3; older events have none).
        #[serde(default)]
        note: Option<String>,
        shipped_at: DateTime<Utc>,
    },
    OrderDelivered {
        order_id: Uuid,
        delivered_at: DateTime<Utc>,
    },
    /// An admin asked to pay `amount` back to `phone` by M-Pesa B2C; `refund_id` is the B2C
    /// `OriginatorConversationID`. The refund reactor sends it.
    RefundRequested {
        order_id: Uuid,
        /// The order's customer, whose phone this is (read models erase it with the account).
        customer_id: Uuid,
        refund_id: Uuid,
        amount: i64,
        phone: String,
        reason: String,
        requested_at: DateTime<Utc>,
    },
    /// Daraja paid the refund; `mpesa_receipt` is the B2C `TransactionID`.
    RefundCompleted {
        order_id: Uuid,
        refund_id: Uuid,
        amount: i64,
        mpesa_receipt: String,
        completed_at: DateTime<Utc>,
    },
    /// The B2C payment did not happen: the amount is refundable again.
    RefundFailed {
        order_id: Uuid,
        refund_id: Uuid,
        result_code: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    /// Everything received for a cancelled, expired or `refund_due` order was paid back.
    OrderRefunded {
        order_id: Uuid,
        refunded_at: DateTime<Utc>,
    },
}

/// The phone of an order is its customer's: `OrderPlaced` names them; a later attempt's phone
/// belongs to the same person (the store takes the subject from the stream's first events).
fn personal(event: &OrderEvent) -> crate::Personal {
    use crate::Personal;
    match event {
        OrderEvent::OrderPlaced { customer_id, .. } => {
            Personal::fields(&["phone"], Some(*customer_id))
        }
        OrderEvent::PaymentRequested { .. } | OrderEvent::RefundRequested { .. } => {
            Personal::fields(&["phone"], None)
        }
        _ => Personal::default(),
    }
}

/// v1 → v2: `OrderPlaced` gained `placed_by`; before it only the customer placed orders.
/// v2 → v3: `OrderPlaced`'s lines gained `seller_id` (unknown before: null) and
/// `OrderShipped` gained `note` (none before).
fn upcast(event_type: &str, from_version: i32, mut data: serde_json::Value) -> serde_json::Value {
    if from_version < 3
        && let Some(object) = data.as_object_mut()
    {
        match event_type {
            "OrderPlaced" => {
                if let Some(items) = object.get_mut("items").and_then(|i| i.as_array_mut()) {
                    for item in items.iter_mut().filter_map(|i| i.as_object_mut()) {
                        item.entry("seller_id").or_insert(serde_json::Value::Null);
                    }
                }
            }
            "OrderShipped" => {
                object.entry("note").or_insert(serde_json::Value::Null);
            }
            _ => {}
        }
    }
    if from_version < 2
        && event_type == "OrderPlaced"
        && let Some(object) = data.as_object_mut()
        && !object.contains_key("placed_by")
        && let Some(customer) = object.get("customer_id").cloned()
    {
        object.insert("placed_by".into(), customer);
    }
    data
}

domain_event!(
    OrderEvent,
    order_id,
    personal = personal,
    schema = 3,
    upcast = upcast,
    OrderPlaced,
    PaymentRequested,
    PaymentRequestAccepted,
    PaymentFailed,
    PaymentConfirmed,
    PaymentAmountMismatch,
    RefundFlagged,
    OrderCancelled,
    OrderExpired,
    OrderShipped,
    OrderDelivered,
    RefundRequested,
    RefundCompleted,
    RefundFailed,
    OrderRefunded,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainEvent;

    #[test]
    fn encodes_type_apart_from_data_and_round_trips() {
        let event = OrderEvent::OrderExpired {
            order_id: Uuid::nil(),
            expired_at: DateTime::from_timestamp(0, 0).unwrap(),
        };
        let encoded = event.encode();
        assert_eq!(encoded.event_type, "OrderExpired");
        assert!(encoded.data.get("type").is_none());
        let back = OrderEvent::decode(&encoded.event_type, 1, &encoded.data).unwrap();
        assert_eq!(back, event);
        assert!(OrderEvent::decode("StockSold", 1, &encoded.data).is_err());
    }

    #[test]
    fn a_v1_order_placed_was_placed_by_its_customer() {
        let customer = Uuid::from_u128(7);
        let v1 = serde_json::json!({
            "order_id": Uuid::nil(), "customer_id": customer, "items": [], "total": 0,
            "currency": "KES", "phone": "254712345678",
            "placed_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:15:00Z",
        });
        let OrderEvent::OrderPlaced { placed_by, .. } =
            OrderEvent::decode("OrderPlaced", 1, &v1).unwrap()
        else {
            panic!("an OrderPlaced");
        };
        assert_eq!(placed_by, customer);
        let event = OrderEvent::decode("OrderPlaced", 1, &v1).unwrap();
        let encoded = event.encode();
        assert_eq!(encoded.schema_version, 3);
        assert_eq!(encoded.data["placed_by"], serde_json::json!(customer));
    }

    #[test]
    fn v2_lines_have_no_seller_and_a_v2_shipment_no_note() {
        let v2 = serde_json::json!({
            "order_id": Uuid::nil(), "customer_id": Uuid::nil(), "placed_by": Uuid::nil(),
            "items": [{"product_id": Uuid::nil(), "name": "Kettle", "unit_price": 100,
                "quantity": 1, "line_total": 100}],
            "total": 100, "currency": "KES", "phone": "254712345678",
            "placed_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:15:00Z",
        });
        let OrderEvent::OrderPlaced { items, .. } =
            OrderEvent::decode("OrderPlaced", 2, &v2).unwrap()
        else {
            panic!("an OrderPlaced");
        };
        assert_eq!(items[0].seller_id, None);
        let shipped = serde_json::json!({
            "order_id": Uuid::nil(), "carrier": "G4S", "tracking_number": null,
            "shipped_at": "2026-01-01T00:00:00Z",
        });
        let OrderEvent::OrderShipped { note, carrier, .. } =
            OrderEvent::decode("OrderShipped", 2, &shipped).unwrap()
        else {
            panic!("an OrderShipped");
        };
        assert_eq!((note, carrier.as_deref()), (None, Some("G4S")));
    }
}
