//! Decisions taken on one node see what another node did just before: a sold-out product
//! that another node restocked (by a cancel) sells, a cart line another node added can be
//! removed, and checkouts of the same products in opposite line orders from two nodes never
//! deadlock into an error.

use reqwest::Method;
use serde_json::json;
use tillroll::payments::fake::FakeMode;
use uuid::Uuid;

use crate::cluster::{Cluster, PHONE, assert_no_oversell};
use crate::db::TestDb;

async fn cluster(n: usize) -> (Cluster, TestDb) {
    let db = TestDb::empty().await;
    // No callbacks: the orders stay unpaid, so they can be cancelled.
    let cluster = Cluster::start(db.url(), db.pool.clone(), n, FakeMode::NoCallback).await;
    (cluster, db)
}

fn order(product: Uuid) -> serde_json::Value {
    json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE})
}

/// Places an order of one unit through `node`; asserts 201; its id.
async fn place(cluster: &Cluster, node: usize, customer: &str, product: Uuid) -> String {
    let placed = cluster
        .must(
            node,
            Method::POST,
            "/orders",
            customer,
            Some(order(product)),
        )
        .await;
    assert_eq!(placed.status, 201, "node {node}: {placed:?}");
    placed.body["id"].as_str().unwrap().to_owned()
}

/// Cancels an order through `node`; asserts 200.
async fn cancel(cluster: &Cluster, node: usize, customer: &str, id: &str) {
    let path = format!("/orders/{id}/cancel");
    let cancelled = cluster
        .must(node, Method::POST, &path, customer, Some(json!({})))
        .await;
    assert_eq!(cancelled.status, 200, "node {node}: {cancelled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_unit_cancelled_on_one_node_sells_on_another() {
    let (cluster, db) = cluster(3).await;
    let admin = cluster.admin();
    let product = cluster.product(0, &admin, "Last kettle", 1).await;
    let (_, customer) = cluster.customer();
    // Every node has decided on this product (and cached it) before the rounds begin.
    for node in 0..3 {
        let id = place(&cluster, node, &customer, product).await;
        cancel(&cluster, node, &customer, &id).await;
    }
    for round in 0..9 {
        let (a, b) = (round % 3, (round + 1) % 3);
        // A sells the last unit; B, whose cache says one is left, must refuse.
        let sold = place(&cluster, a, &customer, product).await;
        let refused = cluster
            .must(b, Method::POST, "/orders", &customer, Some(order(product)))
            .await;
        assert_eq!(refused.status, 409, "round {round}, node {b}: {refused:?}");
        // B cancels it; A, whose cache says none is left, must sell it again at once.
        cancel(&cluster, b, &customer, &sold).await;
        let again = place(&cluster, a, &customer, product).await;
        cancel(&cluster, a, &customer, &again).await;
    }
    assert_no_oversell(&cluster.pool).await;
    drop(cluster);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_line_added_on_another_node_is_seen_by_this_one() {
    let (cluster, db) = cluster(2).await;
    let admin = cluster.admin();
    let rice = cluster.product(0, &admin, "Rice", 50).await;
    let pan = cluster.product(1, &admin, "Pan", 50).await;
    for round in 0..5 {
        let (_, customer) = cluster.customer();
        let (a, b) = (round % 2, (round + 1) % 2);
        let add = |node: usize, product: Uuid| {
            let cluster = &cluster;
            let customer = customer.clone();
            async move {
                let body = json!({"product_id": product, "quantity": 1});
                cluster
                    .must(node, Method::POST, "/cart/items", &customer, Some(body))
                    .await
            }
        };
        // A reads (and caches) the cart, B adds a line A has not seen.
        assert_eq!(add(a, rice).await.status, 200);
        assert_eq!(add(b, pan).await.status, 200);
        let removed = cluster
            .must(
                a,
                Method::DELETE,
                &format!("/cart/items/{pan}"),
                &customer,
                None,
            )
            .await;
        assert_eq!(removed.status, 200, "round {round}: {removed:?}");
        let lines: Vec<&str> = removed.body["items"]
            .as_array()
            .expect("cart items")
            .iter()
            .map(|l| l["product_id"].as_str().unwrap())
            .collect();
        assert_eq!(lines, [rice.to_string()], "round {round}");
        // B adds the pan again; A's checkout must include it.
        assert_eq!(add(b, pan).await.status, 200);
        let placed = cluster
            .must(
                a,
                Method::POST,
                "/checkout",
                &customer,
                Some(json!({"phone": PHONE})),
            )
            .await;
        assert_eq!(placed.status, 201, "round {round}: {placed:?}");
        let mut bought: Vec<String> = placed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["product_id"].as_str().unwrap().to_owned())
            .collect();
        bought.sort();
        let mut expected = vec![rice.to_string(), pan.to_string()];
        expected.sort();
        assert_eq!(bought, expected, "round {round}");
    }
    drop(cluster);
    db.drop().await;
}

/// Two nodes place orders of the same four products, one in one line order and one in the
/// other (through the cart and directly), many at once: every answer is 201, or a 409 for a
/// business reason (stock), never a deadlock's 500 nor a spurious "changed concurrently".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_line_orders_from_two_nodes_never_fail_spuriously() {
    let (cluster, db) = cluster(2).await;
    let admin = cluster.admin();
    let mut products = Vec::new();
    for name in ["Salt", "Sugar", "Tea", "Flour"] {
        products.push(cluster.product(0, &admin, name, 1_000).await);
    }
    let reversed: Vec<Uuid> = products.iter().rev().copied().collect();
    let clients = 16;
    let rounds = 6;
    let mut tasks = Vec::new();
    let cluster = std::sync::Arc::new(cluster);
    for client in 0..clients {
        let cluster = cluster.clone();
        let lines = if client % 2 == 0 {
            products.clone()
        } else {
            reversed.clone()
        };
        tasks.push(tokio::spawn(async move {
            let (_, customer) = cluster.customer();
            let node = client % 2;
            let mut statuses = Vec::new();
            for round in 0..rounds {
                let answer = if round % 2 == 0 {
                    let items: Vec<_> = lines
                        .iter()
                        .map(|p| json!({"product_id": p, "quantity": 1}))
                        .collect();
                    let body = json!({"items": items, "phone": PHONE});
                    cluster
                        .must(node, Method::POST, "/orders", &customer, Some(body))
                        .await
                } else {
                    for product in &lines {
                        let body = json!({"product_id": product, "quantity": 1});
                        let added = cluster
                            .must(node, Method::POST, "/cart/items", &customer, Some(body))
                            .await;
                        assert_eq!(added.status, 200, "{added:?}");
                    }
                    let body = json!({"phone": PHONE});
                    cluster
                        .must(node, Method::POST, "/checkout", &customer, Some(body))
                        .await
                };
                statuses.push((answer.status, answer.body));
            }
            statuses
        }));
    }
    let mut placed = 0;
    for task in tasks {
        for (status, body) in task.await.unwrap() {
            assert_eq!(status, 201, "{body}");
            placed += 1;
        }
    }
    assert_eq!(placed, clients * rounds);
    let sold = assert_no_oversell(&cluster.pool).await;
    assert_eq!(sold.values().sum::<i64>(), 0, "nothing is paid here");
    drop(cluster);
    db.drop().await;
}
