//! Given address book events, when a command, then events or a rejection.

use super::*;

const CUSTOMER: Uuid = Uuid::from_u128(0xc0);
const HOME: Uuid = Uuid::from_u128(0x1);
const OFFICE: Uuid = Uuid::from_u128(0x2);
const SHOP: Uuid = Uuid::from_u128(0x3);

fn given(events: &[AddressBookEvent]) -> AddressBook {
    AddressBook::from_events(events)
}

fn fields(line1: &str) -> AddressFields {
    AddressFields {
        label: None,
        recipient: "Wanjiru Kamau".into(),
        phone: Some("254712345678".into()),
        line1: line1.into(),
        line2: None,
        city: "Nairobi".into(),
        region: None,
        postal_code: Some("00100".into()),
        country: "KE".into(),
    }
}

fn added(id: Uuid) -> AddressBookEvent {
    AddressBookEvent::AddressAdded {
        customer_id: CUSTOMER,
        address_id: id,
        address: fields("Moi Avenue 1"),
    }
}

fn default_is(id: Uuid) -> AddressBookEvent {
    AddressBookEvent::DefaultAddressChanged {
        customer_id: CUSTOMER,
        address_id: id,
    }
}

fn add(id: Uuid, make_default: bool) -> AddAddress {
    AddAddress {
        customer_id: CUSTOMER,
        address_id: id,
        fields: fields("Moi Avenue 1"),
        make_default,
    }
}

/// Home (the default) and office.
fn two() -> Vec<AddressBookEvent> {
    vec![added(HOME), default_is(HOME), added(OFFICE)]
}

#[test]
fn the_first_address_becomes_the_default() {
    let events = super::add(&given(&[]), &add(HOME, false)).unwrap();
    assert_eq!(events, vec![added(HOME), default_is(HOME)]);
}

#[test]
fn a_later_address_leaves_the_default_unless_asked() {
    let state = given(&[added(HOME), default_is(HOME)]);
    assert_eq!(
        super::add(&state, &add(OFFICE, false)).unwrap(),
        [added(OFFICE)]
    );
    assert_eq!(
        super::add(&state, &add(OFFICE, true)).unwrap(),
        [added(OFFICE), default_is(OFFICE)]
    );
}

#[test]
fn a_full_book_refuses_another_address() {
    let events: Vec<_> = (0..MAX_ADDRESSES as u128)
        .map(|i| added(Uuid::from_u128(0x1000 + i)))
        .collect();
    assert_eq!(
        super::add(&given(&events), &add(HOME, false)),
        Err(AddressError::Full)
    );
}

#[test]
fn changing_fields_records_the_whole_new_address() {
    let state = given(&two());
    let cmd = ChangeAddress {
        address_id: OFFICE,
        fields: fields("Kenyatta Avenue 9"),
        make_default: None,
    };
    assert_eq!(
        change(&state, &cmd).unwrap(),
        [AddressBookEvent::AddressChanged {
            customer_id: CUSTOMER,
            address_id: OFFICE,
            address: fields("Kenyatta Avenue 9"),
        }]
    );
}

#[test]
fn an_unchanged_address_records_nothing() {
    let state = given(&two());
    let cmd = ChangeAddress {
        address_id: HOME,
        fields: fields("Moi Avenue 1"),
        make_default: Some(true),
    };
    assert_eq!(change(&state, &cmd).unwrap(), []);
}

#[test]
fn setting_default_moves_it_and_only_one_is_default() {
    let state = given(&two());
    let cmd = ChangeAddress {
        address_id: OFFICE,
        fields: fields("Moi Avenue 1"),
        make_default: Some(true),
    };
    let events = change(&state, &cmd).unwrap();
    assert_eq!(events, [default_is(OFFICE)]);
    let after = given(&[two(), events].concat());
    assert!(after.is_default(OFFICE));
    assert!(!after.is_default(HOME));
}

#[test]
fn false_default_leaves_the_default_where_it_is() {
    let state = given(&two());
    let cmd = ChangeAddress {
        address_id: HOME,
        fields: fields("Moi Avenue 1"),
        make_default: Some(false),
    };
    assert_eq!(change(&state, &cmd).unwrap(), []);
}

#[test]
fn removing_the_default_makes_the_oldest_remaining_the_default() {
    let mut history = two();
    history.push(added(SHOP));
    let state = given(&history);
    let events = remove(&state, &RemoveAddress { address_id: HOME }).unwrap();
    assert_eq!(
        events,
        [
            AddressBookEvent::AddressRemoved {
                customer_id: CUSTOMER,
                address_id: HOME,
            },
            default_is(OFFICE),
        ]
    );
}

#[test]
fn removing_the_last_address_leaves_no_default() {
    let state = given(&[added(HOME), default_is(HOME)]);
    let events = remove(&state, &RemoveAddress { address_id: HOME }).unwrap();
    let after = given(&[vec![added(HOME), default_is(HOME)], events].concat());
    assert!(after.addresses.is_empty());
    assert_eq!(after.default, None);
}

#[test]
fn removing_another_address_leaves_the_default() {
    let state = given(&two());
    let events = remove(&state, &RemoveAddress { address_id: OFFICE }).unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn an_unknown_address_is_not_found() {
    let state = given(&two());
    assert_eq!(
        remove(&state, &RemoveAddress { address_id: SHOP }),
        Err(AddressError::NotFound)
    );
    let cmd = ChangeAddress {
        address_id: SHOP,
        fields: fields("x"),
        make_default: None,
    };
    assert_eq!(change(&state, &cmd), Err(AddressError::NotFound));
}

#[test]
fn an_order_copies_the_named_address_or_the_default() {
    let state = given(&two());
    assert_eq!(for_order(&state, None).unwrap().unwrap().id, HOME);
    assert_eq!(for_order(&state, Some(OFFICE)).unwrap().unwrap().id, OFFICE);
    assert_eq!(for_order(&state, Some(SHOP)), Err(AddressError::NotFound));
    assert_eq!(for_order(&given(&[]), None), Ok(None));
}
