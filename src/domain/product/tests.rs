//! Given product events, when a command, then events or a rejection.

use super::*;

const PRODUCT: Uuid = Uuid::from_u128(0x100);
const SELLER: Uuid = Uuid::from_u128(0x5e11);

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_000_000 + minute * 60, 0).unwrap()
}

fn seller() -> Actor {
    Actor {
        id: SELLER,
        role: Role::Seller,
    }
}

fn other_seller() -> Actor {
    Actor {
        id: Uuid::from_u128(0x0bad),
        role: Role::Seller,
    }
}

fn admin() -> Actor {
    Actor {
        id: Uuid::from_u128(0xad),
        role: Role::Admin,
    }
}

fn customer() -> Actor {
    Actor {
        id: Uuid::from_u128(0xc),
        role: Role::Customer,
    }
}

fn given(events: &[ProductEvent]) -> Product {
    Product::from_events(events)
}

fn listed() -> ProductEvent {
    ProductEvent::ProductListed {
        product_id: PRODUCT,
        seller_id: SELLER,
        name: "Kettle".into(),
        description: "Boils water".into(),
        category: "kitchen".into(),
        price: 249_900,
        currency: Currency::kes(),
        payout_phone: None,
        listed_at: at(0),
    }
}

fn withdrawn() -> ProductEvent {
    ProductEvent::ProductWithdrawn {
        product_id: PRODUCT,
        withdrawn_at: at(1),
    }
}

fn list_cmd(actor: Actor) -> ListProduct {
    ListProduct {
        product_id: PRODUCT,
        actor,
        name: ProductName::parse("Kettle").unwrap(),
        description: Description::parse("Boils water").unwrap(),
        category: CategorySlug::parse("kitchen").unwrap(),
        price: Price::parse(249_900).unwrap(),
        currency: Currency::kes(),
        payout_phone: None,
        now: at(0),
    }
}

fn update_cmd(actor: Actor) -> UpdateProduct {
    UpdateProduct {
        actor,
        name: None,
        description: None,
        category: None,
        payout_phone: None,
        price: None,
        currency: None,
        now: at(5),
    }
}

fn image_cmd(actor: Actor) -> SetProductImage {
    SetProductImage {
        actor,
        image_id: "ab".repeat(32),
        content_type: "image/png".into(),
        now: at(5),
    }
}

#[test]
fn a_seller_lists_a_product_as_its_seller() {
    assert_eq!(list(&given(&[]), &list_cmd(seller())), Ok(vec![listed()]));
}

#[test]
fn an_admin_listing_a_product_is_its_seller() {
    let events = list(&given(&[]), &list_cmd(admin())).unwrap();
    let ProductEvent::ProductListed { seller_id, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(*seller_id, admin().id);
}

#[test]
fn customers_and_auditors_cannot_list() {
    let auditor = Actor {
        id: Uuid::from_u128(0xa),
        role: Role::Auditor,
    };
    for actor in [customer(), auditor] {
        assert_eq!(
            list(&given(&[]), &list_cmd(actor)),
            Err(ProductError::Forbidden)
        );
    }
}

#[test]
fn listing_an_existing_product_conflicts() {
    assert_eq!(
        list(&given(&[listed()]), &list_cmd(seller())),
        Err(ProductError::AlreadyExists)
    );
}

#[test]
fn listing_keeps_the_normalised_payout_phone() {
    let cmd = ListProduct {
        payout_phone: Some(Msisdn::parse("0712345678").unwrap()),
        ..list_cmd(seller())
    };
    let state = given(&list(&given(&[]), &cmd).unwrap());
    assert_eq!(state.payout_phone.as_deref(), Some("254712345678"));
    assert!(state.exists && !state.withdrawn);
    assert_eq!(state.listed_at, Some(at(0)));
}

#[test]
fn updating_a_missing_product_is_not_found() {
    assert_eq!(
        update(&given(&[]), &update_cmd(admin())),
        Err(ProductError::NotFound)
    );
}

#[test]
fn only_the_changed_details_are_recorded() {
    let cmd = UpdateProduct {
        name: Some(ProductName::parse("Electric kettle").unwrap()),
        description: Some(Description::parse("Boils water").unwrap()),
        category: Some(CategorySlug::parse("kitchen").unwrap()),
        ..update_cmd(seller())
    };
    assert_eq!(
        update(&given(&[listed()]), &cmd),
        Ok(vec![ProductEvent::ProductDetailsChanged {
            product_id: PRODUCT,
            name: Some("Electric kettle".into()),
            description: None,
            category: None,
            payout_phone: None,
            changed_at: at(5),
        }])
    );
}

#[test]
fn nothing_changed_means_no_events() {
    let same = UpdateProduct {
        name: Some(ProductName::parse(" Kettle ").unwrap()),
        price: Some(Price::parse(249_900).unwrap()),
        currency: Some(Currency::kes()),
        ..update_cmd(seller())
    };
    assert_eq!(update(&given(&[listed()]), &same), Ok(vec![]));
    assert_eq!(
        update(&given(&[listed()]), &update_cmd(seller())),
        Ok(vec![])
    );
}

#[test]
fn a_price_change_is_its_own_event() {
    let cmd = UpdateProduct {
        price: Some(Price::parse(199_900).unwrap()),
        category: Some(CategorySlug::parse("home").unwrap()),
        ..update_cmd(seller())
    };
    let events = update(&given(&[listed()]), &cmd).unwrap();
    assert_eq!(
        events,
        vec![
            ProductEvent::ProductDetailsChanged {
                product_id: PRODUCT,
                name: None,
                description: None,
                category: Some("home".into()),
                payout_phone: None,
                changed_at: at(5),
            },
            ProductEvent::ProductPriceChanged {
                product_id: PRODUCT,
                price: 199_900,
                currency: Currency::kes(),
                changed_at: at(5),
            },
        ]
    );
    let state = given(&[vec![listed()], events].concat());
    assert_eq!((state.price, state.category.as_str()), (199_900, "home"));
    assert_eq!(state.name, "Kettle");
    assert_eq!(state.updated_at, Some(at(5)));
}

#[test]
fn a_payout_phone_change_is_a_detail() {
    let phone = Msisdn::parse("0112345678").unwrap();
    let cmd = UpdateProduct {
        payout_phone: Some(phone.clone()),
        ..update_cmd(seller())
    };
    let events = update(&given(&[listed()]), &cmd).unwrap();
    let state = given(&[vec![listed()], events].concat());
    assert_eq!(state.payout_phone.as_deref(), Some("254112345678"));
    let again = UpdateProduct {
        payout_phone: Some(phone),
        ..update_cmd(seller())
    };
    assert_eq!(update(&state, &again), Ok(vec![]));
}

#[test]
fn only_the_owner_or_an_admin_may_update() {
    let cmd = |actor| UpdateProduct {
        price: Some(Price::parse(1).unwrap()),
        ..update_cmd(actor)
    };
    let state = given(&[listed()]);
    assert_eq!(
        update(&state, &cmd(other_seller())),
        Err(ProductError::NotOwner)
    );
    assert_eq!(
        update(&state, &cmd(customer())),
        Err(ProductError::Forbidden)
    );
    assert_eq!(update(&state, &cmd(admin())).map(|e| e.len()), Ok(1));
    assert_eq!(update(&state, &cmd(seller())).map(|e| e.len()), Ok(1));
}

#[test]
fn a_withdrawn_product_cannot_change() {
    let state = given(&[listed(), withdrawn()]);
    let cmd = UpdateProduct {
        price: Some(Price::parse(1).unwrap()),
        ..update_cmd(admin())
    };
    assert_eq!(update(&state, &cmd), Err(ProductError::Withdrawn));
    assert_eq!(
        set_image(&state, &image_cmd(seller())),
        Err(ProductError::Withdrawn)
    );
    assert_eq!(authorize(&state, &seller()), Err(ProductError::Withdrawn));
}

#[test]
fn setting_an_image_records_its_hash_and_type() {
    let events = set_image(&given(&[listed()]), &image_cmd(seller())).unwrap();
    assert_eq!(
        events,
        vec![ProductEvent::ProductImageChanged {
            product_id: PRODUCT,
            image_id: "ab".repeat(32),
            content_type: "image/png".into(),
            changed_at: at(5),
        }]
    );
    let state = given(&[vec![listed()], events].concat());
    assert_eq!(
        set_image(&state, &image_cmd(seller())),
        Ok(vec![]),
        "same image again"
    );
    let jpeg = SetProductImage {
        content_type: "image/jpeg".into(),
        ..image_cmd(seller())
    };
    assert_eq!(set_image(&state, &jpeg).map(|e| e.len()), Ok(1));
}

#[test]
fn images_must_be_png_jpeg_or_webp_named_by_sha256() {
    let state = given(&[listed()]);
    let gif = SetProductImage {
        content_type: "image/gif".into(),
        ..image_cmd(seller())
    };
    assert_eq!(
        set_image(&state, &gif),
        Err(ProductError::UnsupportedImageType("image/gif".into()))
    );
    for bad in ["AB".repeat(32), "ab".repeat(31), "zz".repeat(32)] {
        let cmd = SetProductImage {
            image_id: bad,
            ..image_cmd(seller())
        };
        assert_eq!(set_image(&state, &cmd), Err(ProductError::InvalidImageId));
    }
    assert_eq!(
        set_image(&state, &image_cmd(other_seller())),
        Err(ProductError::NotOwner)
    );
    assert_eq!(
        set_image(&given(&[]), &image_cmd(admin())),
        Err(ProductError::NotFound)
    );
}

#[test]
fn withdrawing_is_idempotent() {
    let cmd = WithdrawProduct {
        actor: seller(),
        now: at(1),
    };
    assert_eq!(withdraw(&given(&[listed()]), &cmd), Ok(vec![withdrawn()]));
    let state = given(&[listed(), withdrawn()]);
    assert!(state.withdrawn);
    assert_eq!(withdraw(&state, &cmd), Ok(vec![]));
}

#[test]
fn withdrawing_needs_the_owner_or_an_admin() {
    let state = given(&[listed()]);
    let by = |actor| WithdrawProduct { actor, now: at(1) };
    assert_eq!(
        withdraw(&state, &by(other_seller())),
        Err(ProductError::NotOwner)
    );
    assert_eq!(
        withdraw(&state, &by(customer())),
        Err(ProductError::Forbidden)
    );
    assert_eq!(withdraw(&state, &by(admin())).map(|e| e.len()), Ok(1));
    assert_eq!(
        withdraw(&given(&[]), &by(admin())),
        Err(ProductError::NotFound)
    );
    let gone = given(&[listed(), withdrawn()]);
    assert_eq!(
        withdraw(&gone, &by(other_seller())),
        Err(ProductError::NotOwner)
    );
}
