//! Given account events, when a command, then events or a rejection.

use super::*;

const ID: Uuid = Uuid::from_u128(0xc0);

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_000_000 + minute * 60, 0).unwrap()
}

fn given(events: &[CustomerEvent]) -> Customer {
    Customer::from_events(events)
}

fn registered() -> CustomerEvent {
    CustomerEvent::CustomerRegistered {
        customer_id: ID,
        email: "Wanjiru@Example.com".into(),
        name: "Wanjiru".into(),
        phone: Some("254712345678".into()),
        role: "customer".into(),
        registered_at: at(0),
    }
}

fn closed() -> CustomerEvent {
    CustomerEvent::AccountClosed {
        customer_id: ID,
        closed_at: at(9),
    }
}

fn register_cmd(role: Role) -> Register {
    Register {
        customer_id: ID,
        email: Email::parse("Wanjiru@Example.com").unwrap(),
        name: PersonName::parse("Wanjiru").unwrap(),
        phone: Some(Msisdn::parse("0712 345 678").unwrap()),
        role,
        now: at(0),
    }
}

fn avatar(hex: &str) -> ChangeAvatar {
    ChangeAvatar {
        image_id: hex.repeat(32),
    }
}

#[test]
fn registering_records_the_account_as_a_customer() {
    assert_eq!(
        register(&given(&[]), &register_cmd(Role::Customer)),
        Ok(vec![registered()])
    );
    let state = given(&[registered()]);
    assert!(state.exists && !state.disabled && !state.closed);
    assert_eq!(state.role, Role::Customer);
    assert_eq!(state.email, "Wanjiru@Example.com", "stored as given");
}

#[test]
fn the_admin_bootstrap_registers_an_admin() {
    let events = register(&given(&[]), &register_cmd(Role::Admin)).unwrap();
    assert_eq!(given(&events).role, Role::Admin);
}

#[test]
fn registering_twice_conflicts() {
    assert_eq!(
        register(&given(&[registered()]), &register_cmd(Role::Customer)),
        Err(CustomerError::AlreadyRegistered)
    );
}

#[test]
fn a_profile_update_records_only_what_changed() {
    let cmd = UpdateProfile {
        name: Some(PersonName::parse("Wanjiru K.").unwrap()),
        phone: Some(Msisdn::parse("+254712345678").unwrap()),
        gender: Some(Gender::parse("female").unwrap()),
    };
    let events = update_profile(&given(&[registered()]), &cmd).unwrap();
    assert_eq!(
        events,
        vec![CustomerEvent::ProfileUpdated {
            customer_id: ID,
            name: Some("Wanjiru K.".into()),
            phone: None,
            gender: Some("female".into()),
        }]
    );
    let state = given(&[vec![registered()], events].concat());
    assert_eq!(state.name, "Wanjiru K.");
    assert_eq!(state.gender.as_deref(), Some("female"));
    assert_eq!(state.phone.as_deref(), Some("254712345678"));
    assert_eq!(update_profile(&state, &cmd), Ok(vec![]), "same again");
}

#[test]
fn a_first_phone_is_a_change() {
    let no_phone = CustomerEvent::CustomerRegistered {
        customer_id: ID,
        email: "a@b.co".into(),
        name: "A".into(),
        phone: None,
        role: "customer".into(),
        registered_at: at(0),
    };
    let cmd = UpdateProfile {
        phone: Some(Msisdn::parse("0112345678").unwrap()),
        ..UpdateProfile::default()
    };
    let events = update_profile(&given(std::slice::from_ref(&no_phone)), &cmd).unwrap();
    assert_eq!(
        given(&[vec![no_phone], events].concat()).phone.as_deref(),
        Some("254112345678")
    );
}

#[test]
fn an_empty_profile_update_records_nothing() {
    assert_eq!(
        update_profile(&given(&[registered()]), &UpdateProfile::default()),
        Ok(vec![])
    );
}

#[test]
fn commands_on_a_missing_account_are_not_found() {
    let state = given(&[]);
    assert_eq!(
        update_profile(&state, &UpdateProfile::default()),
        Err(CustomerError::NotFound)
    );
    assert_eq!(
        change_avatar(&state, &avatar("ab")),
        Err(CustomerError::NotFound)
    );
    assert_eq!(
        grant_role(&state, &GrantRole { role: Role::Admin }),
        Err(CustomerError::NotFound)
    );
    assert_eq!(disable(&state, &Disable), Err(CustomerError::NotFound));
    assert_eq!(enable(&state, &Enable), Err(CustomerError::NotFound));
    assert_eq!(
        close(&state, &Close { now: at(1) }),
        Err(CustomerError::NotFound)
    );
}

#[test]
fn changing_the_avatar() {
    let events = change_avatar(&given(&[registered()]), &avatar("ab")).unwrap();
    assert_eq!(
        events,
        vec![CustomerEvent::AvatarChanged {
            customer_id: ID,
            image_id: "ab".repeat(32)
        }]
    );
    let state = given(&[vec![registered()], events].concat());
    assert_eq!(
        change_avatar(&state, &avatar("ab")),
        Ok(vec![]),
        "same image"
    );
    assert_eq!(change_avatar(&state, &avatar("cd")).map(|e| e.len()), Ok(1));
    assert_eq!(
        change_avatar(&state, &avatar("xy")),
        Err(CustomerError::InvalidImageId)
    );
}

#[test]
fn granting_a_role_sets_it_once() {
    let cmd = GrantRole { role: Role::Seller };
    let events = grant_role(&given(&[registered()]), &cmd).unwrap();
    assert_eq!(
        events,
        vec![CustomerEvent::RoleGranted {
            customer_id: ID,
            role: "seller".into()
        }]
    );
    let state = given(&[vec![registered()], events].concat());
    assert_eq!(state.role, Role::Seller);
    assert_eq!(grant_role(&state, &cmd), Ok(vec![]));
}

#[test]
fn an_unknown_stored_role_grants_the_least() {
    let odd = CustomerEvent::RoleGranted {
        customer_id: ID,
        role: "superuser".into(),
    };
    assert_eq!(given(&[registered(), odd]).role, Role::Customer);
}

#[test]
fn disabling_and_enabling_are_idempotent() {
    let disabled = CustomerEvent::AccountDisabled { customer_id: ID };
    assert_eq!(
        disable(&given(&[registered()]), &Disable),
        Ok(vec![disabled.clone()])
    );
    let state = given(&[registered(), disabled.clone()]);
    assert!(state.disabled);
    assert_eq!(disable(&state, &Disable), Ok(vec![]));
    assert_eq!(
        enable(&state, &Enable),
        Ok(vec![CustomerEvent::AccountEnabled { customer_id: ID }])
    );
    let enabled = CustomerEvent::AccountEnabled { customer_id: ID };
    assert_eq!(enable(&given(&[registered()]), &Enable), Ok(vec![]));
    assert!(!given(&[registered(), disabled, enabled]).disabled);
}

#[test]
fn a_disabled_account_can_still_be_managed() {
    let state = given(&[
        registered(),
        CustomerEvent::AccountDisabled { customer_id: ID },
    ]);
    assert_eq!(
        grant_role(
            &state,
            &GrantRole {
                role: Role::Auditor
            }
        )
        .map(|e| e.len()),
        Ok(1)
    );
    assert_eq!(close(&state, &Close { now: at(9) }), Ok(vec![closed()]));
}

#[test]
fn closing_erases_personal_data_from_the_state() {
    assert_eq!(
        close(&given(&[registered()]), &Close { now: at(9) }),
        Ok(vec![closed()])
    );
    let state = given(&[registered(), closed()]);
    assert!(state.closed);
    assert_eq!(state.closed_at, Some(at(9)));
    assert!(state.email.is_empty() && state.name.is_empty());
    assert_eq!(
        (state.phone, state.gender, state.avatar_image_id),
        (None, None, None)
    );
}

#[test]
fn a_closed_account_rejects_every_command() {
    let state = given(&[registered(), closed()]);
    let profile = UpdateProfile {
        name: Some(PersonName::parse("X").unwrap()),
        ..UpdateProfile::default()
    };
    assert_eq!(update_profile(&state, &profile), Err(CustomerError::Closed));
    assert_eq!(
        change_avatar(&state, &avatar("ab")),
        Err(CustomerError::Closed)
    );
    assert_eq!(
        grant_role(&state, &GrantRole { role: Role::Admin }),
        Err(CustomerError::Closed)
    );
    assert_eq!(disable(&state, &Disable), Err(CustomerError::Closed));
    assert_eq!(enable(&state, &Enable), Err(CustomerError::Closed));
    assert_eq!(
        close(&state, &Close { now: at(10) }),
        Err(CustomerError::Closed)
    );
    assert_eq!(
        register(&state, &register_cmd(Role::Customer)),
        Err(CustomerError::AlreadyRegistered)
    );
}
