//! Rebuilding every projector from event 1 gives, table by table, exactly what following the
//! log live gave — through the real store, so with personal fields sealed and a closed
//! account erased between the live run and the rebuild.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tillroll_events::order::OrderLine;
use tillroll_events::{
    AddressBookEvent, AddressFields, CartEvent, Currency, CustomerEvent, DomainEvent, LogPosition,
    Metadata, OrderEvent, ProductEvent, SellerEvent, StockEvent, StreamId,
};
use uuid::Uuid;

use crate::audit::{emit_many, last_appended, new_events};
use crate::support::TestApp;

struct Shop<'a> {
    app: &'a TestApp,
    now: DateTime<Utc>,
}

impl Shop<'_> {
    fn meta(&self, actor: Uuid, correlation: Uuid) -> Metadata {
        crate::audit::user_metadata(actor, "customer", correlation)
    }

    async fn one<E: DomainEvent>(&self, stream: StreamId, event: E, actor: Uuid) {
        self.many(vec![(stream, vec![event])], actor).await;
    }

    async fn many<E: DomainEvent>(&self, appends: Vec<(StreamId, Vec<E>)>, actor: Uuid) {
        let meta = self.meta(actor, Uuid::now_v7());
        let appends = appends
            .into_iter()
            .map(|(s, events)| (s, new_events(&events, &meta)))
            .collect();
        emit_many(&self.app.state.store, appends).await;
    }

    async fn customer(&self, id: Uuid, n: u32, phone: Option<&str>) {
        let registered = CustomerEvent::CustomerRegistered {
            customer_id: id,
            email: format!("person{n}@example.ke"),
            name: format!("Person {n}"),
            phone: phone.map(str::to_owned),
            role: "customer".into(),
            registered_at: self.now,
        };
        self.one(StreamId::customer(id), registered, id).await;
    }

    async fn product(&self, id: Uuid, seller: Uuid, name: &str, price: i64, on_hand: i64) {
        let listed = ProductEvent::ProductListed {
            product_id: id,
            seller_id: seller,
            name: name.into(),
            description: format!("A fine {name}"),
            category: "kitchen".into(),
            price,
            currency: Currency::kes(),
            payout_phone: Some("254700000009".into()),
            listed_at: self.now,
        };
        self.one(StreamId::product(id), listed, seller).await;
        let level = StockEvent::StockLevelSet {
            product_id: id,
            on_hand,
        };
        self.one(StreamId::stock(id), level, seller).await;
    }

    /// Places an order of one of `product` (with its stock reserved) and its first attempt.
    async fn order(&self, order: Uuid, customer: Uuid, product: Uuid, attempt: Uuid) {
        let line = OrderLine {
            product_id: product,
            name: "Thing".into(),
            unit_price: 100_000,
            quantity: 1,
            line_total: 100_000,
            // Any seller: the seller orders read model is rebuilt from these lines.
            seller_id: Some(Uuid::from_u128(0x5e11e4)),
        };
        let placed = vec![
            OrderEvent::OrderPlaced {
                order_id: order,
                customer_id: customer,
                placed_by: customer,
                items: vec![line],
                total: 100_000,
                currency: Currency::kes(),
                phone: "254722000001".into(),
                placed_at: self.now,
                expires_at: self.now + chrono::TimeDelta::minutes(15),
            },
            self.requested(order, attempt),
        ];
        let reserved = vec![StockEvent::StockReserved {
            product_id: product,
            order_id: order,
            quantity: 1,
        }];
        let meta = self.meta(customer, order);
        emit_many(
            &self.app.state.store,
            vec![
                (StreamId::order(order), new_events(&placed, &meta)),
                (StreamId::stock(product), new_events(&reserved, &meta)),
            ],
        )
        .await;
    }

    fn requested(&self, order: Uuid, attempt: Uuid) -> OrderEvent {
        OrderEvent::PaymentRequested {
            order_id: order,
            attempt_id: attempt,
            phone: "254722000002".into(),
            amount: 100_000,
            requested_at: self.now,
        }
    }

    async fn pay(&self, order: Uuid, attempt: Uuid, checkout: &str, amount: i64) {
        let events = vec![
            OrderEvent::PaymentRequestAccepted {
                order_id: order,
                attempt_id: attempt,
                checkout_request_id: checkout.into(),
                merchant_request_id: "m".into(),
            },
            if amount == 100_000 {
                OrderEvent::PaymentConfirmed {
                    order_id: order,
                    attempt_id: attempt,
                    checkout_request_id: checkout.into(),
                    mpesa_receipt: format!("R{checkout}"),
                    amount,
                    paid_at: self.now,
                }
            } else {
                OrderEvent::PaymentAmountMismatch {
                    order_id: order,
                    attempt_id: attempt,
                    checkout_request_id: checkout.into(),
                    mpesa_receipt: format!("R{checkout}"),
                    amount,
                    expected: 100_000,
                }
            },
        ];
        self.many(vec![(StreamId::order(order), events)], Uuid::nil())
            .await;
    }
}

/// One round of shop life touching every projector, a closed account with orders included.
async fn round(shop: &Shop<'_>, n: u32) {
    let [alice, bob, carol] = std::array::from_fn(|_| Uuid::now_v7());
    let [kettle, pan] = std::array::from_fn(|_| Uuid::now_v7());
    shop.customer(alice, n * 10 + 1, Some("254711000001")).await;
    shop.customer(bob, n * 10 + 2, None).await;
    shop.customer(carol, n * 10 + 3, Some("254711000003")).await;
    for event in [
        CustomerEvent::ProfileUpdated {
            customer_id: alice,
            name: Some(format!("Alice {n}")),
            phone: Some("254711000011".into()),
            gender: Some("female".into()),
        },
        CustomerEvent::AvatarChanged {
            customer_id: alice,
            image_id: "ab".repeat(32),
        },
    ] {
        shop.one(StreamId::customer(alice), event, alice).await;
    }
    for event in [
        CustomerEvent::RoleGranted {
            customer_id: bob,
            role: "seller".into(),
        },
        CustomerEvent::AccountDisabled { customer_id: bob },
        CustomerEvent::AccountEnabled { customer_id: bob },
    ] {
        shop.one(StreamId::customer(bob), event, Uuid::nil()).await;
    }
    shop.product(kettle, bob, "Kettle", 100_000, 10).await;
    shop.product(pan, bob, "Pan", 100_000, 5).await;
    for event in [
        ProductEvent::ProductDetailsChanged {
            product_id: kettle,
            name: Some("Steel kettle".into()),
            description: None,
            category: Some(format!("appliances-{n}")),
            payout_phone: None,
            changed_at: shop.now,
        },
        ProductEvent::ProductImageChanged {
            product_id: kettle,
            image_id: "cd".repeat(32),
            content_type: "image/png".into(),
            changed_at: shop.now,
        },
    ] {
        shop.one(StreamId::product(kettle), event, bob).await;
    }
    let adjusted = StockEvent::StockAdjusted {
        product_id: pan,
        delta: 3,
        reason: "found".into(),
    };
    shop.one(StreamId::stock(pan), adjusted, bob).await;

    // Alice's cart, checked out into an order paid on the second attempt, shipped, delivered.
    let (cart, order) = (Uuid::now_v7(), Uuid::now_v7());
    let add = |product, quantity| CartEvent::ItemAddedToCart {
        cart_id: cart,
        customer_id: alice,
        product_id: product,
        quantity,
        unit_price: 100_000,
        currency: Currency::kes(),
    };
    for event in [
        add(kettle, 1),
        add(pan, 2),
        CartEvent::CartItemQuantityChanged {
            cart_id: cart,
            customer_id: alice,
            product_id: pan,
            quantity: 1,
        },
        CartEvent::ItemRemovedFromCart {
            cart_id: cart,
            customer_id: alice,
            product_id: pan,
        },
    ] {
        shop.one(StreamId::cart(alice), event, alice).await;
    }
    let price = ProductEvent::ProductPriceChanged {
        product_id: pan,
        price: 90_000,
        currency: Currency::kes(),
        changed_at: shop.now,
    };
    shop.one(StreamId::product(pan), price, bob).await;
    let checked_out = CartEvent::CartCheckedOut {
        cart_id: cart,
        customer_id: alice,
        order_id: order,
    };
    shop.one(StreamId::cart(alice), checked_out, alice).await;
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    shop.order(order, alice, kettle, first).await;
    let failed = vec![
        OrderEvent::PaymentRequestAccepted {
            order_id: order,
            attempt_id: first,
            checkout_request_id: format!("ws{n}a"),
            merchant_request_id: "m".into(),
        },
        OrderEvent::PaymentFailed {
            order_id: order,
            attempt_id: first,
            checkout_request_id: Some(format!("ws{n}a")),
            result_code: "1032".into(),
            reason: "cancelled".into(),
            mpesa_receipt: None,
            amount: None,
        },
        shop.requested(order, second),
    ];
    shop.many(vec![(StreamId::order(order), failed)], alice)
        .await;
    shop.pay(order, second, &format!("ws{n}b"), 100_000).await;
    let sold = StockEvent::StockSold {
        product_id: kettle,
        order_id: order,
        quantity: 1,
    };
    shop.one(StreamId::stock(kettle), sold, Uuid::nil()).await;
    for event in [
        OrderEvent::OrderShipped {
            order_id: order,
            carrier: Some("G4S".into()),
            tracking_number: Some(format!("T{n}")),
            note: None,
            shipped_at: shop.now,
        },
        OrderEvent::OrderDelivered {
            order_id: order,
            delivered_at: shop.now,
        },
    ] {
        shop.one(StreamId::order(order), event, Uuid::nil()).await;
    }
    // Part of it refunded by B2C, one refund failing first.
    let (refund, failed_refund) = (Uuid::now_v7(), Uuid::now_v7());
    let refunds = [(failed_refund, 40_000), (refund, 30_000)]
        .into_iter()
        .map(|(id, amount)| OrderEvent::RefundRequested {
            order_id: order,
            customer_id: alice,
            refund_id: id,
            amount,
            phone: "254722000002".into(),
            reason: "a dent".into(),
            requested_at: shop.now,
        })
        .chain([
            OrderEvent::RefundFailed {
                order_id: order,
                refund_id: failed_refund,
                result_code: "2001".into(),
                reason: "refused".into(),
                failed_at: shop.now,
            },
            OrderEvent::RefundCompleted {
                order_id: order,
                refund_id: refund,
                amount: 30_000,
                mpesa_receipt: format!("TLC{n}"),
                completed_at: shop.now,
            },
        ]);
    for event in refunds {
        shop.one(StreamId::order(order), event, Uuid::nil()).await;
    }
    // Bob's ledger: the delivered kettle earned him, a payout paid it, a refund took part back.
    let payout = Uuid::now_v7();
    let phone = "254700000009".to_owned();
    for event in [
        SellerEvent::EarningsRecorded {
            seller_id: bob,
            order_id: order,
            phone: phone.clone(),
            gross: 100_000,
            fee: 0,
            net: 100_000,
            recorded_at: shop.now,
        },
        SellerEvent::PayoutRequested {
            seller_id: bob,
            payout_id: payout,
            phone: phone.clone(),
            amount: 100_000,
            order_ids: vec![order],
            requested_at: shop.now,
        },
        SellerEvent::PayoutCompleted {
            seller_id: bob,
            payout_id: payout,
            mpesa_receipt: format!("TLP{n}"),
            completed_at: shop.now,
        },
        SellerEvent::EarningsReversed {
            seller_id: bob,
            order_id: order,
            refund_id: refund,
            phone: phone.clone(),
            amount: 30_000,
            reversed_at: shop.now,
        },
    ] {
        shop.one(StreamId::seller(bob), event, Uuid::nil()).await;
    }

    // Carol: one order cancelled, one expired, one paid the wrong amount; a cart left open.
    let [cancelled, expired, mismatched] = std::array::from_fn(|_| Uuid::now_v7());
    for (o, attempt) in [
        (cancelled, Uuid::now_v7()),
        (expired, Uuid::now_v7()),
        (mismatched, Uuid::now_v7()),
    ] {
        shop.order(o, carol, pan, attempt).await;
        if o == mismatched {
            shop.pay(o, attempt, &format!("ws{n}m"), 99_000).await;
            let flag = OrderEvent::RefundFlagged {
                order_id: o,
                reason: "wrong amount".into(),
            };
            shop.one(StreamId::order(o), flag, Uuid::nil()).await;
        }
    }
    let ended = vec![
        (
            StreamId::order(cancelled),
            OrderEvent::OrderCancelled {
                order_id: cancelled,
                reason: Some("changed mind".into()),
                cancelled_at: shop.now,
            },
        ),
        (
            StreamId::order(expired),
            OrderEvent::OrderExpired {
                order_id: expired,
                expired_at: shop.now,
            },
        ),
    ];
    for (stream, event) in ended {
        shop.one(stream, event, carol).await;
    }
    for (o, reason) in [(cancelled, "cancelled"), (expired, "expired")] {
        let released = StockEvent::StockReservationReleased {
            product_id: pan,
            order_id: o,
            quantity: 1,
            reason: reason.into(),
        };
        shop.one(StreamId::stock(pan), released, Uuid::nil()).await;
    }
    let open = CartEvent::ItemAddedToCart {
        cart_id: Uuid::now_v7(),
        customer_id: carol,
        product_id: pan,
        quantity: 2,
        unit_price: 90_000,
        currency: Currency::kes(),
    };
    shop.one(StreamId::cart(carol), open, carol).await;

    address_books(shop, alice, bob, carol).await;

    // Alice closes her account: the store shreds her key, so a rebuild reads her personal
    // fields as erased where the live run read them in clear.
    let closed = CustomerEvent::AccountClosed {
        customer_id: alice,
        closed_at: shop.now,
    };
    shop.one(StreamId::customer(alice), closed, alice).await;
    let withdrawn = ProductEvent::ProductWithdrawn {
        product_id: pan,
        withdrawn_at: shop.now,
    };
    shop.one(StreamId::product(pan), withdrawn, bob).await;
}

/// Address books: Alice's (erased when she closes her account), Bob's (added, changed, the
/// default moved and the default removed) and Carol's.
async fn address_books(shop: &Shop<'_>, alice: Uuid, bob: Uuid, carol: Uuid) {
    let address = |line1: &str| AddressFields {
        label: Some("Home".into()),
        recipient: "Person".into(),
        phone: Some("254711000001".into()),
        line1: line1.into(),
        line2: None,
        city: "Nairobi".into(),
        region: Some("Nairobi".into()),
        postal_code: Some("00100".into()),
        country: "KE".into(),
    };
    for customer in [alice, bob, carol] {
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        let mut events = vec![
            AddressBookEvent::AddressAdded {
                customer_id: customer,
                address_id: first,
                address: address("Moi Avenue 1"),
            },
            AddressBookEvent::DefaultAddressChanged {
                customer_id: customer,
                address_id: first,
            },
            AddressBookEvent::AddressAdded {
                customer_id: customer,
                address_id: second,
                address: address("Kimathi Street 2"),
            },
        ];
        if customer == bob {
            events.extend([
                AddressBookEvent::AddressChanged {
                    customer_id: bob,
                    address_id: second,
                    address: address("Kimathi Street 3"),
                },
                AddressBookEvent::DefaultAddressChanged {
                    customer_id: bob,
                    address_id: second,
                },
                AddressBookEvent::AddressRemoved {
                    customer_id: bob,
                    address_id: second,
                },
                AddressBookEvent::DefaultAddressChanged {
                    customer_id: bob,
                    address_id: first,
                },
            ]);
        }
        for event in events {
            shop.one(StreamId::address_book(customer), event, customer)
                .await;
        }
    }
}

/// Each table of the projector, as its rows in a fixed order.
async fn tables(app: &TestApp, tables: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for table in tables {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT to_jsonb(t)::text FROM public.{table} t ORDER BY 1"
        )))
        .fetch_all(app.pool())
        .await
        .unwrap();
        out.push((
            (*table).to_owned(),
            rows.into_iter().map(|(r,)| r).collect(),
        ));
    }
    out
}

async fn checkpoint_reaches(app: &TestApp, name: &str, target: LogPosition) {
    app.eventually(Duration::from_secs(20), || async {
        let (log_index, position): (i64, i64) =
            sqlx::query_as("SELECT log_index, position FROM checkpoints WHERE name = $1")
                .bind(name)
                .fetch_one(app.pool())
                .await
                .unwrap();
        (LogPosition {
            log_index,
            position,
        } >= target)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn rebuilding_each_projector_reproduces_its_live_tables() {
    let app = TestApp::spawn().await;
    let shop = Shop {
        app: &app,
        now: Utc::now(),
    };
    round(&shop, 1).await;
    round(&shop, 2).await;
    let last = last_appended(&app).await;
    assert!(
        app.state
            .wait_for_position(last, None, Duration::from_secs(20))
            .await
            .unwrap()
    );
    let last = app.state.store.resolve(last).await.unwrap().unwrap();

    for projector in tillroll_projections::all() {
        let live = tables(&app, projector.tables()).await;
        assert!(
            live.iter().any(|(_, rows)| !rows.is_empty()),
            "{} has rows to compare",
            projector.name()
        );
        let events =
            tillroll_projections::rebuild(app.pool(), &app.state.store, projector.as_ref(), &())
                .await
                .unwrap();
        assert!(events > 0);
        // The rebuild stops where the log ended when it read it; the live runner then carries
        // the swapped-in tables on from there.
        checkpoint_reaches(&app, projector.name(), last).await;
        let rebuilt = tables(&app, projector.tables()).await;
        for ((table, live), (_, rebuilt)) in live.iter().zip(&rebuilt) {
            let only_live: Vec<_> = live.iter().filter(|r| !rebuilt.contains(r)).collect();
            let only_rebuilt: Vec<_> = rebuilt.iter().filter(|r| !live.contains(r)).collect();
            assert!(
                only_live.is_empty() && only_rebuilt.is_empty() && live.len() == rebuilt.len(),
                "{}: table {table}: live only {only_live:#?}, rebuilt only {only_rebuilt:#?}",
                projector.name()
            );
        }
    }
    // The erased customer's personal data is gone from the live and the rebuilt read models.
    let (orders_phone,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM orders WHERE phone = '[erased]'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(
        orders_phone, 2,
        "each round's closed customer had one order"
    );
    // Closed customers' address books are gone; the others' kept one default each.
    let (addresses, defaults): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE is_default) FROM addresses")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(
        (addresses, defaults),
        (2 * 3, 2 * 2),
        "Bob 1 and Carol 2, twice"
    );
    app.stop().await;
}
