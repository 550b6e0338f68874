//! Given cart events, when a command, then events or a rejection.

use super::*;

const CUSTOMER: Uuid = Uuid::from_u128(0xc0);
const CART: Uuid = Uuid::from_u128(0xca);
const NEXT_CART: Uuid = Uuid::from_u128(0xcb);
const KETTLE: Uuid = Uuid::from_u128(0x100);
const TOASTER: Uuid = Uuid::from_u128(0x200);
const ORDER: Uuid = Uuid::from_u128(0x0a);

fn given(events: &[CartEvent]) -> Cart {
    Cart::from_events(events)
}

fn product(product_id: Uuid, available: i64) -> ProductSnapshot {
    ProductSnapshot {
        product_id,
        name: "Kettle".into(),
        exists: true,
        withdrawn: false,
        price: 249_900,
        currency: Currency::kes(),
        available,
    }
}

fn added(product_id: Uuid, quantity: i64) -> CartEvent {
    CartEvent::ItemAddedToCart {
        cart_id: CART,
        customer_id: CUSTOMER,
        product_id,
        quantity,
        unit_price: 249_900,
        currency: Currency::kes(),
    }
}

fn add(product: ProductSnapshot, quantity: i64) -> AddItem {
    AddItem {
        customer_id: CUSTOMER,
        product,
        quantity: Quantity::parse(quantity).unwrap(),
        new_cart_id: CART,
    }
}

fn change(product: ProductSnapshot, quantity: i64) -> ChangeQuantity {
    ChangeQuantity { product, quantity }
}

fn checked_out() -> CartEvent {
    CartEvent::CartCheckedOut {
        cart_id: CART,
        customer_id: CUSTOMER,
        order_id: ORDER,
    }
}

#[test]
fn the_first_add_opens_the_cart() {
    assert_eq!(
        add_item(&given(&[]), &add(product(KETTLE, 5), 2)),
        Ok(vec![added(KETTLE, 2)])
    );
    let state = given(&[added(KETTLE, 2)]);
    assert_eq!(state.cart_id, Some(CART));
    assert_eq!(state.customer_id, CUSTOMER);
    assert_eq!(state.lines.len(), 1);
}

#[test]
fn adding_again_adds_to_the_line_within_the_open_cart() {
    let state = given(&[added(KETTLE, 2)]);
    let cmd = AddItem {
        new_cart_id: NEXT_CART,
        ..add(product(KETTLE, 5), 3)
    };
    assert_eq!(
        add_item(&state, &cmd),
        Ok(vec![added(KETTLE, 3)]),
        "keeps the open cart id"
    );
    let state = given(&[added(KETTLE, 2), added(KETTLE, 3), added(TOASTER, 1)]);
    let quantities: Vec<_> = state
        .lines
        .iter()
        .map(|l| (l.product_id, l.quantity))
        .collect();
    assert_eq!(quantities, vec![(KETTLE, 5), (TOASTER, 1)]);
}

#[test]
fn the_latest_price_is_kept_on_the_line() {
    let repriced = CartEvent::ItemAddedToCart {
        cart_id: CART,
        customer_id: CUSTOMER,
        product_id: KETTLE,
        quantity: 1,
        unit_price: 199_900,
        currency: Currency::kes(),
    };
    assert_eq!(
        given(&[added(KETTLE, 1), repriced])
            .line(KETTLE)
            .unwrap()
            .unit_price,
        199_900
    );
}

#[test]
fn unknown_or_withdrawn_products_are_not_found() {
    let unknown = ProductSnapshot {
        exists: false,
        ..product(KETTLE, 5)
    };
    let withdrawn = ProductSnapshot {
        withdrawn: true,
        ..product(KETTLE, 5)
    };
    for p in [unknown, withdrawn] {
        assert_eq!(
            add_item(&given(&[]), &add(p, 1)),
            Err(CartError::ProductNotFound(KETTLE))
        );
    }
}

#[test]
fn the_resulting_quantity_must_be_available() {
    let state = given(&[added(KETTLE, 3)]);
    assert_eq!(
        add_item(&state, &add(product(KETTLE, 4), 2)),
        Err(CartError::InsufficientStock {
            product_id: KETTLE,
            name: "Kettle".into(),
            requested: 5,
            available: 4
        })
    );
    assert_eq!(
        add_item(&state, &add(product(KETTLE, 4), 1)).map(|e| e.len()),
        Ok(1)
    );
    assert_eq!(
        add_item(&given(&[]), &add(product(KETTLE, -2), 1)),
        Err(CartError::InsufficientStock {
            product_id: KETTLE,
            name: "Kettle".into(),
            requested: 1,
            available: 0
        })
    );
}

#[test]
fn a_line_holds_at_most_a_thousand() {
    let state = given(&[added(KETTLE, 999)]);
    assert_eq!(
        add_item(&state, &add(product(KETTLE, 5000), 2)),
        Err(CartError::LineFull {
            in_cart: 999,
            adding: 2
        })
    );
    assert_eq!(
        add_item(&state, &add(product(KETTLE, 5000), 1)).map(|e| e.len()),
        Ok(1)
    );
}

#[test]
fn a_cart_has_one_currency() {
    let usd = Currency::parse("USD").unwrap();
    let cmd = add(
        ProductSnapshot {
            currency: usd.clone(),
            ..product(TOASTER, 5)
        },
        1,
    );
    assert_eq!(
        add_item(&given(&[added(KETTLE, 1)]), &cmd),
        Err(CartError::CurrencyMismatch {
            cart: Currency::kes(),
            product: usd
        })
    );
}

#[test]
fn changing_the_quantity_sets_it() {
    let state = given(&[added(KETTLE, 2)]);
    assert_eq!(
        change_quantity(&state, &change(product(KETTLE, 5), 5)),
        Ok(vec![CartEvent::CartItemQuantityChanged {
            cart_id: CART,
            customer_id: CUSTOMER,
            product_id: KETTLE,
            quantity: 5,
        }])
    );
    assert_eq!(
        change_quantity(&state, &change(product(KETTLE, 5), 2)),
        Ok(vec![]),
        "unchanged"
    );
    let after = given(&[
        added(KETTLE, 2),
        CartEvent::CartItemQuantityChanged {
            cart_id: CART,
            customer_id: CUSTOMER,
            product_id: KETTLE,
            quantity: 5,
        },
    ]);
    assert_eq!(after.line(KETTLE).unwrap().quantity, 5);
}

#[test]
fn changing_to_zero_removes_the_line() {
    let state = given(&[added(KETTLE, 2)]);
    let removed = CartEvent::ItemRemovedFromCart {
        cart_id: CART,
        customer_id: CUSTOMER,
        product_id: KETTLE,
    };
    assert_eq!(
        change_quantity(&state, &change(product(KETTLE, 0), 0)),
        Ok(vec![removed.clone()])
    );
    let withdrawn = ProductSnapshot {
        withdrawn: true,
        ..product(KETTLE, 0)
    };
    assert_eq!(
        change_quantity(&state, &change(withdrawn, 0)),
        Ok(vec![removed.clone()]),
        "always removable"
    );
    assert!(given(&[added(KETTLE, 2), removed]).lines.is_empty());
}

#[test]
fn changing_a_line_not_in_the_cart_is_not_found() {
    let state = given(&[added(KETTLE, 2)]);
    assert_eq!(
        change_quantity(&state, &change(product(TOASTER, 5), 1)),
        Err(CartError::NotInCart(TOASTER))
    );
    assert_eq!(
        change_quantity(&given(&[]), &change(product(TOASTER, 5), 0)),
        Err(CartError::NotInCart(TOASTER))
    );
}

#[test]
fn changing_above_available_or_out_of_range_is_refused() {
    let state = given(&[added(KETTLE, 2)]);
    assert_eq!(
        change_quantity(&state, &change(product(KETTLE, 3), 4)),
        Err(CartError::InsufficientStock {
            product_id: KETTLE,
            name: "Kettle".into(),
            requested: 4,
            available: 3
        })
    );
    for bad in [-1, 1001] {
        assert_eq!(
            change_quantity(&state, &change(product(KETTLE, 5000), bad)),
            Err(CartError::InvalidQuantity { requested: bad })
        );
    }
    let withdrawn = ProductSnapshot {
        withdrawn: true,
        ..product(KETTLE, 5)
    };
    assert_eq!(
        change_quantity(&state, &change(withdrawn, 3)),
        Err(CartError::ProductNotFound(KETTLE))
    );
}

#[test]
fn removing_an_item() {
    let state = given(&[added(KETTLE, 2), added(TOASTER, 1)]);
    let events = remove_item(&state, &RemoveItem { product_id: KETTLE }).unwrap();
    assert_eq!(
        events,
        vec![CartEvent::ItemRemovedFromCart {
            cart_id: CART,
            customer_id: CUSTOMER,
            product_id: KETTLE
        }]
    );
    let after = given(&[vec![added(KETTLE, 2), added(TOASTER, 1)], events].concat());
    assert_eq!(
        after.lines.iter().map(|l| l.product_id).collect::<Vec<_>>(),
        vec![TOASTER]
    );
    assert_eq!(
        remove_item(&after, &RemoveItem { product_id: KETTLE }),
        Err(CartError::NotInCart(KETTLE))
    );
}

#[test]
fn clearing() {
    let cleared = CartEvent::CartCleared {
        cart_id: CART,
        customer_id: CUSTOMER,
    };
    assert_eq!(
        clear(&given(&[added(KETTLE, 2)]), &Clear),
        Ok(vec![cleared.clone()])
    );
    let state = given(&[added(KETTLE, 2), cleared]);
    assert!(state.lines.is_empty() && state.cart_id.is_none());
    assert_eq!(clear(&state, &Clear), Ok(vec![]), "empty");
    assert_eq!(clear(&given(&[]), &Clear), Ok(vec![]), "never opened");
    let emptied = given(&[
        added(KETTLE, 1),
        CartEvent::ItemRemovedFromCart {
            cart_id: CART,
            customer_id: CUSTOMER,
            product_id: KETTLE,
        },
    ]);
    assert_eq!(clear(&emptied, &Clear), Ok(vec![]), "open but empty");
}

#[test]
fn checking_out_closes_the_cart() {
    assert_eq!(
        check_out(&given(&[added(KETTLE, 2)]), &CheckOut { order_id: ORDER }),
        Ok(vec![checked_out()])
    );
    let state = given(&[added(KETTLE, 2), checked_out()]);
    assert_eq!(state.cart_id, None);
    assert!(state.lines.is_empty());
}

#[test]
fn checking_out_an_empty_cart_conflicts() {
    assert_eq!(
        check_out(&given(&[]), &CheckOut { order_id: ORDER }),
        Err(CartError::EmptyCart)
    );
    let state = given(&[added(KETTLE, 2), checked_out()]);
    assert_eq!(
        check_out(&state, &CheckOut { order_id: ORDER }),
        Err(CartError::EmptyCart),
        "twice"
    );
}

#[test]
fn after_checkout_the_next_add_opens_a_new_cart() {
    let state = given(&[added(KETTLE, 2), checked_out()]);
    let cmd = AddItem {
        new_cart_id: NEXT_CART,
        ..add(product(KETTLE, 5), 5)
    };
    let events = add_item(&state, &cmd).unwrap();
    let CartEvent::ItemAddedToCart {
        cart_id, quantity, ..
    } = events[0]
    else {
        panic!()
    };
    assert_eq!(
        (cart_id, quantity),
        (NEXT_CART, 5),
        "old lines no longer count"
    );
}
