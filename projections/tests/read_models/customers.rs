//! The customers projector, event by event.

use chrono::{DateTime, Utc};
use tillroll_events::{CustomerEvent, StreamId};
use tillroll_projections::customers::CustomersProjector;
use uuid::Uuid;

use crate::common::{TestDb, t0};

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Customer {
    id: Uuid,
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    gender: Option<String>,
    avatar_image_id: Option<String>,
    role: String,
    disabled: bool,
    closed: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn customer(db: &TestDb, id: Uuid) -> Customer {
    sqlx::query_as("SELECT * FROM customers WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("customer row")
}

pub fn registered(id: Uuid, email: &str) -> CustomerEvent {
    CustomerEvent::CustomerRegistered {
        customer_id: id,
        email: email.into(),
        name: "Wanjiru Kamau".into(),
        phone: Some("254712345678".into()),
        role: "customer".into(),
        registered_at: t0(),
    }
}

#[tokio::test]
async fn each_customer_event_changes_its_row() {
    let mut db = TestDb::new().await;
    let p = CustomersProjector;
    let id = Uuid::new_v4();
    let other = Uuid::new_v4();
    let stream = StreamId::customer(id);
    db.append(
        &StreamId::customer(other),
        registered(other, "other@example.com"),
    )
    .await;

    let created = db
        .append(&stream, registered(id, "wanjiru@example.com"))
        .await;
    db.project(&p, 1).await;
    let mut expected = Customer {
        id,
        email: Some("wanjiru@example.com".into()),
        name: Some("Wanjiru Kamau".into()),
        phone: Some("254712345678".into()),
        gender: None,
        avatar_image_id: None,
        role: "customer".into(),
        disabled: false,
        closed: false,
        created_at: created,
        updated_at: created,
    };
    assert_eq!(customer(&db, id).await, expected);

    // Only the fields given change.
    let at = db
        .append(
            &stream,
            CustomerEvent::ProfileUpdated {
                customer_id: id,
                name: Some("Wanjiru K.".into()),
                phone: None,
                gender: Some("female".into()),
            },
        )
        .await;
    db.project(&p, 1).await;
    expected.name = Some("Wanjiru K.".into());
    expected.gender = Some("female".into());
    expected.updated_at = at;
    assert_eq!(customer(&db, id).await, expected);

    let at = db
        .append(
            &stream,
            CustomerEvent::ProfileUpdated {
                customer_id: id,
                name: None,
                phone: Some("254111222333".into()),
                gender: None,
            },
        )
        .await;
    db.project(&p, 1).await;
    expected.phone = Some("254111222333".into());
    expected.updated_at = at;
    assert_eq!(customer(&db, id).await, expected);

    let at = db
        .append(
            &stream,
            CustomerEvent::AvatarChanged {
                customer_id: id,
                image_id: "ab12".into(),
            },
        )
        .await;
    db.project(&p, 1).await;
    expected.avatar_image_id = Some("ab12".into());
    expected.updated_at = at;
    assert_eq!(customer(&db, id).await, expected);

    let at = db
        .append(
            &stream,
            CustomerEvent::RoleGranted {
                customer_id: id,
                role: "seller".into(),
            },
        )
        .await;
    db.project(&p, 1).await;
    expected.role = "seller".into();
    expected.updated_at = at;
    assert_eq!(customer(&db, id).await, expected);

    let at = db
        .append(&stream, CustomerEvent::AccountDisabled { customer_id: id })
        .await;
    db.project(&p, 1).await;
    expected.disabled = true;
    expected.updated_at = at;
    assert_eq!(customer(&db, id).await, expected);

    let at = db
        .append(&stream, CustomerEvent::AccountEnabled { customer_id: id })
        .await;
    db.project(&p, 1).await;
    expected.disabled = false;
    expected.updated_at = at;
    assert_eq!(customer(&db, id).await, expected);

    // The other account was never touched.
    let other_row = customer(&db, other).await;
    assert_eq!(other_row.email.as_deref(), Some("other@example.com"));
    assert_eq!(other_row.created_at, other_row.updated_at);
    assert_eq!(other_row.role, "customer");
}

#[tokio::test]
async fn closing_an_account_erases_its_personal_fields() {
    let mut db = TestDb::new().await;
    let p = CustomersProjector;
    let id = Uuid::new_v4();
    let stream = StreamId::customer(id);
    let created = db.append(&stream, registered(id, "gone@example.com")).await;
    for event in [
        CustomerEvent::ProfileUpdated {
            customer_id: id,
            name: None,
            phone: None,
            gender: Some("male".into()),
        },
        CustomerEvent::AvatarChanged {
            customer_id: id,
            image_id: "cafe".into(),
        },
        CustomerEvent::AccountDisabled { customer_id: id },
    ] {
        db.append(&stream, event).await;
    }
    let closed = db
        .append(
            &stream,
            CustomerEvent::AccountClosed {
                customer_id: id,
                closed_at: t0(),
            },
        )
        .await;
    // Registration to closing in one batch.
    db.project(&p, 100).await;
    let expected = Customer {
        id,
        email: None,
        name: None,
        phone: None,
        gender: None,
        avatar_image_id: None,
        role: "customer".into(),
        disabled: true,
        closed: true,
        created_at: created,
        updated_at: closed,
    };
    assert_eq!(customer(&db, id).await, expected);

    // Nothing personal comes back after the erasure.
    db.append(
        &stream,
        CustomerEvent::ProfileUpdated {
            customer_id: id,
            name: Some("Back".into()),
            phone: Some("254700000000".into()),
            gender: None,
        },
    )
    .await;
    db.append(
        &stream,
        CustomerEvent::AvatarChanged {
            customer_id: id,
            image_id: "beef".into(),
        },
    )
    .await;
    db.project(&p, 1).await;
    assert_eq!(customer(&db, id).await, expected);

    // Nor on a rebuild.
    db.rebuild(&p).await;
    assert_eq!(customer(&db, id).await, expected);
}
