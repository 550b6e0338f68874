//! No interleaving of checkouts oversells: 50 customers race for 10 units.

use serde_json::json;

use super::{PHONE, customer, product, stock};
use crate::support::TestApp;

#[tokio::test]
async fn fifty_concurrent_checkouts_sell_exactly_the_ten_in_stock() {
    let app = TestApp::spawn().await;
    let product_id = product(&app, "Console", 5_000_000, 10).await;
    let tokens: Vec<String> = (0..50).map(|_| customer(&app).1).collect();
    let replies = futures_util::future::join_all(tokens.iter().map(|token| {
        let body = json!({"items": [{"product_id": product_id, "quantity": 1}], "phone": PHONE});
        app.post("/orders", Some(token), body)
    }))
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
    assert!(replies.iter().all(|r| r.status.as_u16() < 500));
    assert_eq!(created, 10);
    assert_eq!(refused.len(), 40);
    for reply in refused {
        let short = &reply.problem(409)["short_lines"][0];
        assert_eq!(short["product_id"], product_id.to_string());
        assert_eq!(short["requested"], 1);
        assert_eq!(short["available"], 0);
    }
    let (on_hand, reserved) = stock(&app, product_id).await;
    assert_eq!(on_hand - reserved, 0);
    app.stop().await;
}
