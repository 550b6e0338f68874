//! What tillroll tells Daraja about an order and what Daraja's answers mean. Stateless: the
//! rules that depend on an order's payment attempts live in `order`.

use uuid::Uuid;

/// Daraja's `AccountReference` (at most 12 characters): `TR` and the last 10 hex digits of the
/// order id, upper-cased. The tail, not the head: a v7 id starts with its timestamp, so orders
/// placed in the same quarter second share their first 10 digits, while the tail is random.
/// A reference for people (it shows on the customer's M-Pesa message); payments are matched
/// by `CheckoutRequestID`, never by this.
pub fn account_reference(order_id: Uuid) -> String {
    format!("TR{}", &hex_upper(order_id)[22..])
}

/// Daraja's `TransactionDesc` (at most 13 characters): `Order ` and the last 7 hex digits of
/// the order id, the same digits that end the account reference.
pub fn transaction_desc(order_id: Uuid) -> String {
    format!("Order {}", &hex_upper(order_id)[25..])
}

fn hex_upper(id: Uuid) -> String {
    id.simple().to_string().to_ascii_uppercase()
}

/// What a Daraja `ResultCode` (from a callback or an STK push query) says about the money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Paid,
    /// Not proof that the customer did not pay (1037: the phone did not answer in time;
    /// 4999: still being processed): settle it with an STK push query before recording a
    /// failure.
    Unsettled {
        reason: String,
    },
    NotPaid {
        reason: String,
    },
}

/// Classifies a result code, kept raw as a string: callbacks send numbers, some paths numeric
/// strings, a few non-numeric codes (`SFC_IC0003`). Only a code that is exactly 0 is paid;
/// anything unknown is not paid. Never switch on Daraja's `ResultDesc`: its wording varies.
pub fn classify_result(code: &str) -> PaymentOutcome {
    let code = code.trim();
    let not_paid = |reason: &str| PaymentOutcome::NotPaid {
        reason: reason.to_owned(),
    };
    match code.parse::<i64>() {
        Ok(0) => PaymentOutcome::Paid,
        Ok(1037) => PaymentOutcome::Unsettled {
            reason: "the phone could not be reached or did not answer in time".into(),
        },
        Ok(4999) => PaymentOutcome::Unsettled {
            reason: "the payment is still being processed".into(),
        },
        Ok(1032) => not_paid("cancelled on the phone"),
        Ok(1) => not_paid("insufficient M-Pesa balance"),
        Ok(2001) => not_paid("wrong M-Pesa PIN"),
        Ok(1025 | 9999) => not_paid("M-Pesa could not send the payment prompt"),
        Ok(1001) => not_paid("another M-Pesa transaction was in progress on the phone"),
        Ok(1019) => not_paid("the payment prompt expired"),
        Ok(17) => not_paid("M-Pesa refused the request for now (limits); try again shortly"),
        Ok(26) => not_paid("M-Pesa was busy; try again shortly"),
        _ => PaymentOutcome::NotPaid {
            reason: format!("M-Pesa did not complete the payment (result {code})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: Uuid = Uuid::from_u128(0x0191_7b2c_5d3e_7f00_8a1b_2c3d_4e5f_6a7b);

    #[test]
    fn account_reference_is_tr_and_ten_upper_hex_digits_of_the_tail() {
        let r = account_reference(ORDER);
        assert_eq!(r, "TR3D4E5F6A7B");
        assert!(r.len() <= 12);
    }

    #[test]
    fn references_of_orders_placed_together_differ() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_ne!(account_reference(a), account_reference(b));
    }

    #[test]
    fn transaction_desc_fits_thirteen_characters() {
        let d = transaction_desc(ORDER);
        assert_eq!(d, "Order E5F6A7B");
        assert!(d.len() <= 13);
        assert!(account_reference(ORDER).ends_with(&d[6..]));
    }

    #[test]
    fn only_zero_is_paid() {
        assert_eq!(classify_result("0"), PaymentOutcome::Paid);
        assert_eq!(classify_result(" 0 "), PaymentOutcome::Paid);
        for code in [
            "1032",
            "1",
            "2001",
            "1025",
            "9999",
            "17",
            "26",
            "1001",
            "1019",
            "SFC_IC0003",
            "",
            "0x0",
            "00a",
            "-1",
        ] {
            assert!(
                matches!(classify_result(code), PaymentOutcome::NotPaid { .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn an_unreachable_phone_needs_a_query() {
        for code in ["1037", "4999"] {
            assert!(
                matches!(classify_result(code), PaymentOutcome::Unsettled { .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn reasons_are_for_people_and_keep_unknown_codes() {
        let reason = |code| match classify_result(code) {
            PaymentOutcome::NotPaid { reason } | PaymentOutcome::Unsettled { reason } => reason,
            PaymentOutcome::Paid => String::new(),
        };
        assert_eq!(reason("1032"), "cancelled on the phone");
        assert_eq!(reason("1"), "insufficient M-Pesa balance");
        assert_eq!(reason("2001"), "wrong M-Pesa PIN");
        assert!(reason("SFC_IC0003").contains("SFC_IC0003"));
    }
}
