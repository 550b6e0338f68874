//! Given stock events, when a command, then events or a rejection.

use super::*;

const PRODUCT: Uuid = Uuid::from_u128(0x100);
const ORDER: Uuid = Uuid::from_u128(0x0a);
const OTHER_ORDER: Uuid = Uuid::from_u128(0x0b);

fn given(events: &[StockEvent]) -> Stock {
    Stock::from_events(events)
}

fn level(on_hand: i64) -> StockEvent {
    StockEvent::StockLevelSet {
        product_id: PRODUCT,
        on_hand,
    }
}

fn reserved(order_id: Uuid, quantity: i64) -> StockEvent {
    StockEvent::StockReserved {
        product_id: PRODUCT,
        order_id,
        quantity,
    }
}

fn sold(order_id: Uuid, quantity: i64) -> StockEvent {
    StockEvent::StockSold {
        product_id: PRODUCT,
        order_id,
        quantity,
    }
}

fn reserve_cmd(order_id: Uuid, quantity: i64) -> Reserve {
    Reserve {
        product_id: PRODUCT,
        order_id,
        quantity,
    }
}

fn adjust_cmd(delta: i64, reason: &str) -> Adjust {
    Adjust {
        product_id: PRODUCT,
        delta,
        reason: reason.into(),
    }
}

fn set(on_hand: i64) -> SetLevel {
    SetLevel {
        product_id: PRODUCT,
        on_hand,
    }
}

/// Runs a decision and folds its events in, as the command handler does.
fn apply(state: &mut Stock, events: Vec<StockEvent>) {
    for e in &events {
        state.evolve(e);
    }
}

#[test]
fn setting_the_level_records_the_count() {
    assert_eq!(set_level(&given(&[]), &set(10)), Ok(vec![level(10)]));
    let state = given(&[level(10)]);
    assert_eq!(
        (state.on_hand, state.reserved, state.available()),
        (10, 0, 10)
    );
}

#[test]
fn opening_records_the_first_count_even_zero() {
    assert_eq!(open(&given(&[]), &set(0)), Ok(vec![level(0)]));
    assert_eq!(open(&given(&[]), &set(7)), Ok(vec![level(7)]));
    let state = given(&[level(0)]);
    assert_eq!(state.product_id, PRODUCT);
    assert_eq!(state.available(), 0);
}

#[test]
fn opening_an_opened_stream_is_setting_its_level() {
    assert_eq!(open(&given(&[level(3)]), &set(3)), Ok(vec![]));
    assert_eq!(open(&given(&[level(3)]), &set(5)), Ok(vec![level(5)]));
    assert_eq!(
        open(&given(&[level(5), reserved(ORDER, 4)]), &set(2)),
        Err(StockError::BelowReserved {
            on_hand: 2,
            reserved: 4
        })
    );
}

#[test]
fn opening_with_a_negative_count_is_invalid() {
    assert_eq!(open(&given(&[]), &set(-1)), Err(StockError::NegativeLevel));
}

#[test]
fn the_same_level_again_is_a_no_op() {
    assert_eq!(set_level(&given(&[level(10)]), &set(10)), Ok(vec![]));
    assert_eq!(set_level(&given(&[]), &set(0)), Ok(vec![]));
}

#[test]
fn a_negative_level_is_invalid() {
    assert_eq!(
        set_level(&given(&[]), &set(-1)),
        Err(StockError::NegativeLevel)
    );
}

#[test]
fn the_level_cannot_fall_below_what_is_reserved() {
    let state = given(&[level(10), reserved(ORDER, 4)]);
    assert_eq!(
        set_level(&state, &set(3)),
        Err(StockError::BelowReserved {
            on_hand: 3,
            reserved: 4
        })
    );
    assert_eq!(set_level(&state, &set(4)), Ok(vec![level(4)]));
}

#[test]
fn an_adjustment_records_delta_and_trimmed_reason() {
    let events = adjust(
        &given(&[level(10)]),
        &adjust_cmd(-3, "  damaged in transit "),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![StockEvent::StockAdjusted {
            product_id: PRODUCT,
            delta: -3,
            reason: "damaged in transit".into(),
        }]
    );
    assert_eq!(given(&[vec![level(10)], events].concat()).on_hand, 7);
}

#[test]
fn an_adjustment_needs_a_reason() {
    let state = given(&[level(10)]);
    assert_eq!(
        adjust(&state, &adjust_cmd(1, "   ")),
        Err(StockError::InvalidReason)
    );
    let long = "x".repeat(MAX_REASON + 1);
    assert_eq!(
        adjust(&state, &adjust_cmd(1, &long)),
        Err(StockError::InvalidReason)
    );
}

#[test]
fn a_zero_adjustment_records_nothing() {
    assert_eq!(
        adjust(&given(&[level(10)]), &adjust_cmd(0, "recount")),
        Ok(vec![])
    );
}

#[test]
fn adjusting_below_reserved_is_refused() {
    let state = given(&[level(10), reserved(ORDER, 8)]);
    assert_eq!(
        adjust(&state, &adjust_cmd(-3, "theft")),
        Err(StockError::BelowReserved {
            on_hand: 7,
            reserved: 8
        })
    );
    assert_eq!(
        adjust(&state, &adjust_cmd(-2, "theft")).map(|e| e.len()),
        Ok(1)
    );
}

#[test]
fn adjusting_below_zero_is_refused() {
    assert_eq!(
        adjust(&given(&[level(2)]), &adjust_cmd(-3, "theft")),
        Err(StockError::BelowReserved {
            on_hand: -1,
            reserved: 0
        })
    );
}

#[test]
fn an_overflowing_adjustment_is_refused() {
    let state = given(&[level(i64::MAX - 1)]);
    assert_eq!(
        adjust(&state, &adjust_cmd(2, "found")),
        Err(StockError::Overflow)
    );
    assert_eq!(
        adjust(&given(&[]), &adjust_cmd(i64::MIN, "lost")),
        Err(StockError::BelowReserved {
            on_hand: i64::MIN,
            reserved: 0
        })
    );
}

#[test]
fn reserving_within_what_is_available() {
    let state = given(&[level(5)]);
    assert_eq!(
        reserve(&state, &reserve_cmd(ORDER, 5)),
        Ok(vec![reserved(ORDER, 5)])
    );
    let state = given(&[level(5), reserved(ORDER, 3)]);
    assert_eq!(
        (state.on_hand, state.reserved, state.available()),
        (5, 3, 2)
    );
    assert_eq!(state.reservations.get(&ORDER), Some(&3));
}

#[test]
fn reserving_beyond_available_names_product_requested_and_available() {
    let state = given(&[level(5), reserved(OTHER_ORDER, 3)]);
    assert_eq!(
        reserve(&state, &reserve_cmd(ORDER, 3)),
        Err(StockError::Insufficient {
            product_id: PRODUCT,
            requested: 3,
            available: 2
        })
    );
    assert_eq!(
        reserve(&given(&[]), &reserve_cmd(ORDER, 1)),
        Err(StockError::Insufficient {
            product_id: PRODUCT,
            requested: 1,
            available: 0
        })
    );
}

#[test]
fn reserving_twice_for_one_order_is_a_no_op() {
    let state = given(&[level(5), reserved(ORDER, 2)]);
    assert_eq!(reserve(&state, &reserve_cmd(ORDER, 2)), Ok(vec![]));
    assert_eq!(reserve(&state, &reserve_cmd(ORDER, 9)), Ok(vec![]));
}

#[test]
fn reserving_nothing_is_invalid() {
    for q in [0, -1] {
        assert_eq!(
            reserve(&given(&[level(5)]), &reserve_cmd(ORDER, q)),
            Err(StockError::InvalidQuantity)
        );
    }
}

#[test]
fn releasing_gives_the_quantity_back() {
    let state = given(&[level(5), reserved(ORDER, 2)]);
    let cmd = Release {
        product_id: PRODUCT,
        order_id: ORDER,
        reason: ReleaseReason::Expired,
    };
    let events = release(&state, &cmd).unwrap();
    assert_eq!(
        events,
        vec![StockEvent::StockReservationReleased {
            product_id: PRODUCT,
            order_id: ORDER,
            quantity: 2,
            reason: "expired".into(),
        }]
    );
    let after = given(&[vec![level(5), reserved(ORDER, 2)], events].concat());
    assert_eq!(
        (after.on_hand, after.reserved, after.available()),
        (5, 0, 5)
    );
    assert!(after.reservations.is_empty());
    assert_eq!(release(&after, &cmd), Ok(vec![]), "released twice");
}

#[test]
fn releasing_without_a_reservation_is_a_no_op() {
    let cmd = Release {
        product_id: PRODUCT,
        order_id: ORDER,
        reason: ReleaseReason::Cancelled,
    };
    assert_eq!(release(&given(&[level(5)]), &cmd), Ok(vec![]));
}

#[test]
fn release_reasons_are_the_stored_strings() {
    assert_eq!(ReleaseReason::Cancelled.as_str(), "cancelled");
    assert_eq!(ReleaseReason::Expired.as_str(), "expired");
    assert_eq!(ReleaseReason::PaymentFailed.as_str(), "payment_failed");
}

#[test]
fn selling_turns_the_reservation_into_a_sale() {
    let state = given(&[level(5), reserved(ORDER, 2), reserved(OTHER_ORDER, 1)]);
    let cmd = Sell {
        product_id: PRODUCT,
        order_id: ORDER,
    };
    let events = sell(&state, &cmd).unwrap();
    assert_eq!(events, vec![sold(ORDER, 2)]);
    let mut after = state.clone();
    apply(&mut after, events);
    assert_eq!(
        (after.on_hand, after.reserved, after.available()),
        (3, 1, 2)
    );
    assert_eq!(sell(&after, &cmd), Ok(vec![]), "sold twice");
}

#[test]
fn selling_without_a_reservation_is_a_no_op() {
    assert_eq!(
        sell(
            &given(&[level(5)]),
            &Sell {
                product_id: PRODUCT,
                order_id: ORDER
            }
        ),
        Ok(vec![])
    );
}

#[test]
fn a_late_payment_reserves_and_sells_when_stock_allows() {
    let cmd = ReserveAndSell {
        product_id: PRODUCT,
        order_id: ORDER,
        quantity: 2,
    };
    let events = reserve_and_sell(&given(&[level(5)]), &cmd).unwrap();
    assert_eq!(events, vec![reserved(ORDER, 2), sold(ORDER, 2)]);
    let after = given(&[vec![level(5)], events].concat());
    assert_eq!((after.on_hand, after.reserved), (3, 0));
    assert!(after.reservations.is_empty());
}

#[test]
fn a_late_payment_without_stock_is_insufficient() {
    let cmd = ReserveAndSell {
        product_id: PRODUCT,
        order_id: ORDER,
        quantity: 2,
    };
    let state = given(&[level(5), reserved(OTHER_ORDER, 4)]);
    assert_eq!(
        reserve_and_sell(&state, &cmd),
        Err(StockError::Insufficient {
            product_id: PRODUCT,
            requested: 2,
            available: 1
        })
    );
}

#[test]
fn reserve_and_sell_with_a_reservation_still_held_only_sells() {
    let cmd = ReserveAndSell {
        product_id: PRODUCT,
        order_id: ORDER,
        quantity: 2,
    };
    let state = given(&[level(2), reserved(ORDER, 2)]);
    assert_eq!(reserve_and_sell(&state, &cmd), Ok(vec![sold(ORDER, 2)]));
}

#[test]
fn state_survives_a_snapshot_round_trip() {
    let state = given(&[level(5), reserved(ORDER, 2)]);
    let back: Stock = serde_json::from_value(serde_json::to_value(&state).unwrap()).unwrap();
    assert_eq!(back.reservations, state.reservations);
    assert_eq!((back.on_hand, back.reserved), (5, 2));
}

/// Any sequence of accepted commands keeps `0 ≤ reserved ≤ on_hand` and `reserved` equal to
/// the sum of the reservations.
#[test]
fn no_sequence_of_commands_oversells() {
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut state = Stock::default();
    for _ in 0..5_000 {
        let order_id = Uuid::from_u128(u128::from(next(8)));
        let q = i64::try_from(next(7)).unwrap() - 1;
        let result = match next(6) {
            0 => set_level(&state, &set(q * 2)),
            1 => adjust(&state, &adjust_cmd(q - 3, "recount")),
            2 | 3 => reserve(&state, &reserve_cmd(order_id, q)),
            4 => release(
                &state,
                &Release {
                    product_id: PRODUCT,
                    order_id,
                    reason: ReleaseReason::Expired,
                },
            ),
            _ => reserve_and_sell(
                &state,
                &ReserveAndSell {
                    product_id: PRODUCT,
                    order_id,
                    quantity: q.max(1),
                },
            ),
        };
        if let Ok(events) = result {
            apply(&mut state, events);
        }
        assert!(
            0 <= state.reserved && state.reserved <= state.on_hand,
            "{state:?}"
        );
        assert_eq!(state.reserved, state.reservations.values().sum::<i64>());
    }
}
