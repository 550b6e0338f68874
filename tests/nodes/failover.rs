//! Three nodes under mixed load from many clients while the node running the payment reactor
//! is killed (-9), frozen for longer than its lease (SIGSTOP), or has its lease session
//! terminated. After each: no order got two STK pushes, every acknowledged command is in the
//! log, no stock was oversold, every order paid for is paid, and the read models equal a fresh
//! rebuild table by table. The takeover time is printed (`--nocapture` shows it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tillroll::domain::payment::account_reference;
use tillroll::payments::fake::{FakeMode, FakeOutcome};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::cluster::{
    Cluster, LEASE_TTL, PHONE, WAIT, assert_no_oversell, assert_read_models_equal_rebuild, signal,
    stream_types, worker_leases,
};
use crate::db::TestDb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    Freeze,
    TerminateLeaseSession,
}

/// What the clients were told.
#[derive(Default)]
struct Acknowledged {
    orders: Vec<Uuid>,
    cancels: Vec<Uuid>,
    /// Answers that were neither a success nor a business 409, by node.
    unexpected: Vec<(usize, u16, String)>,
    /// 503s with `Retry-After` from healthy nodes while the victim was frozen (its open
    /// transaction held the rows they had to write, until the pool timed out).
    busy: usize,
    unanswered: HashMap<usize, usize>,
}

async fn client_loop(
    cluster: Arc<Cluster>,
    products: Vec<Uuid>,
    client: usize,
    stop: Arc<AtomicBool>,
    victim: Arc<std::sync::Mutex<Option<usize>>>,
    frozen: Arc<AtomicBool>,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let (_, customer) = cluster.customer();
    let mut iteration = client;
    let mut last_order: Option<Uuid> = None;
    while !stop.load(Ordering::Relaxed) {
        iteration += 1;
        let node = iteration % cluster.nodes.len();
        let down = *victim.lock().unwrap() == Some(node);
        let product = products[iteration % products.len()];
        let cancel = iteration.is_multiple_of(7) && last_order.is_some();
        let (path, body) = match last_order.filter(|_| cancel) {
            Some(order) => (format!("/orders/{order}/cancel"), json!({})),
            None => (
                "/orders".to_owned(),
                json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE}),
            ),
        };
        let answer = cluster
            .call(node, Method::POST, &path, &customer, Some(body), None)
            .await;
        let mut acked = acked.lock().await;
        match answer {
            None => *acked.unanswered.entry(node).or_insert(0) += 1,
            Some(a) if a.status == 201 => {
                let id = a.body["id"].as_str().unwrap().parse().unwrap();
                acked.orders.push(id);
                last_order = Some(id);
            }
            Some(a) if a.status == 200 && cancel => {
                acked.cancels.push(last_order.take().unwrap());
            }
            // Sold out, or paid before the cancel came: business answers.
            Some(a) if a.status == 409 && a.body["detail"].as_str().is_some() => {
                let detail = a.body["detail"].as_str().unwrap();
                if detail.contains("concurrently") {
                    acked.unexpected.push((node, a.status, a.body.to_string()));
                }
                if cancel {
                    last_order = None;
                }
            }
            // A frozen node's requests are answered late, or not at all.
            Some(_) if down => *acked.unanswered.entry(node).or_insert(0) += 1,
            Some(a) if a.status == 503 && a.retry_after && frozen.load(Ordering::Relaxed) => {
                acked.busy += 1;
            }
            Some(a) => acked.unexpected.push((node, a.status, a.body.to_string())),
        }
    }
}

async fn run(fault: Fault) {
    let db = TestDb::empty().await;
    let cluster = Cluster::start(
        db.url(),
        db.pool.clone(),
        3,
        FakeMode::Callback(FakeOutcome::Success),
    )
    .await;
    let admin = cluster.admin();
    let mut products = Vec::new();
    for (i, name) in ["Kettle", "Lamp", "Radio", "Fan"].iter().enumerate() {
        products.push(cluster.product(i % 3, &admin, name, 40).await);
    }
    cluster.wait_all_leases().await;
    let (victim, _) = cluster
        .holder(tillroll::workers::PAYMENT_LEASE)
        .await
        .expect("the payment reactor runs somewhere");
    let victim = victim.expect("held by one of the nodes");
    let victim_leases: Vec<String> = cluster
        .leases()
        .await
        .into_iter()
        .filter(|(_, (node, _))| *node == Some(victim))
        .map(|(name, _)| name)
        .collect();
    let epochs_before = cluster.leases().await;

    let cluster = Arc::new(cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let down = Arc::new(std::sync::Mutex::new(None));
    let frozen = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let clients: Vec<_> = (0..12)
        .map(|client| {
            tokio::spawn(client_loop(
                cluster.clone(),
                products.clone(),
                client,
                stop.clone(),
                down.clone(),
                frozen.clone(),
                acked.clone(),
            ))
        })
        .collect();
    // Load runs before the fault, through it and after the takeover.
    let started = Instant::now();
    loop {
        if acked.lock().await.orders.len() >= 30 {
            break;
        }
        assert!(started.elapsed() < WAIT, "the load does not get through");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim_pid = cluster.nodes[victim].pid;
    let fault_at = Instant::now();
    match fault {
        Fault::Kill => {
            *down.lock().unwrap() = Some(victim);
            signal(victim_pid, "KILL");
        }
        Fault::Freeze => {
            *down.lock().unwrap() = Some(victim);
            frozen.store(true, Ordering::Relaxed);
            signal(victim_pid, "STOP");
        }
        Fault::TerminateLeaseSession => {
            let (terminated,): (i64,) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = $1",
            )
            .bind(format!("tillroll-lease {victim_pid}"))
            .fetch_one(&cluster.pool)
            .await
            .unwrap();
            assert_eq!(terminated, 1, "the victim's lease session was found");
        }
    }
    let takeover = match fault {
        Fault::Kill | Fault::Freeze => cluster.wait_leases_away_from(&victim_leases, victim).await,
        Fault::TerminateLeaseSession => {
            // The victim's keeper notices, reconnects and proves it holds its leases again
            // (or they move on): every lease is held, renewed after the cut.
            let deadline = Instant::now() + WAIT;
            loop {
                let (renewed,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM leases WHERE name = ANY($1) \
                     AND renewed_at > clock_timestamp() - $2 * interval '1 ms' \
                     AND expires_at > clock_timestamp()",
                )
                .bind(&victim_leases)
                .bind(fault_at.elapsed().as_millis() as i64)
                .fetch_one(&cluster.pool)
                .await
                .unwrap();
                if renewed == victim_leases.len() as i64 {
                    break fault_at.elapsed();
                }
                assert!(
                    Instant::now() < deadline,
                    "the victim's leases are not renewed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let orders_at_fault = acked.lock().await.orders.len();
    // A frozen node stays frozen past its lease, then thaws into a cluster that moved on.
    if fault == Fault::Freeze {
        let frozen_for = LEASE_TTL * 2;
        tokio::time::sleep(frozen_for.saturating_sub(fault_at.elapsed())).await;
        signal(victim_pid, "CONT");
        // Requests that waited on the frozen transaction's rows are answered within the pool's
        // acquire timeout after it ends.
        tokio::time::sleep(Duration::from_secs(2)).await;
        frozen.store(false, Ordering::Relaxed);
    }
    // More load after the takeover.
    let resumed = Instant::now();
    loop {
        if acked.lock().await.orders.len() >= orders_at_fault + 30 {
            break;
        }
        assert!(
            resumed.elapsed() < WAIT,
            "the load does not get through after the fault (logs in {})",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner();
    assert!(
        acked.unexpected.is_empty(),
        "answers other than 201/200/409 (logs in {}): {:?}",
        cluster.logs(),
        acked.unexpected
    );
    for node in acked.unanswered.keys() {
        assert!(
            fault != Fault::TerminateLeaseSession && *node == victim,
            "node {node} left requests unanswered: {:?}",
            acked.unanswered
        );
    }

    // Every order is settled: paid, cancelled, or (an STK push of unknown fate after a
    // crash) waiting for its customer to ask again.
    let pool = cluster.pool.clone();
    let cancelled: HashSet<Uuid> = acked.cancels.iter().copied().collect();
    let deadline = Instant::now() + WAIT;
    let mut in_doubt = Vec::new();
    let mut paid = 0;
    for order in &acked.orders {
        let stream = format!("order-{order}");
        loop {
            let types = stream_types(&pool, &stream).await;
            assert_eq!(
                types.first().map(String::as_str),
                Some("OrderPlaced"),
                "acknowledged order {order} is in the log"
            );
            if cancelled.contains(order) {
                assert!(
                    types.iter().any(|t| t == "OrderCancelled"),
                    "{order}: {types:?}"
                );
            }
            if types.iter().any(|t| t == "PaymentConfirmed") {
                paid += 1;
                break;
            }
            if types
                .iter()
                .any(|t| t == "OrderCancelled" || t == "OrderExpired")
            {
                break;
            }
            assert!(
                !types.iter().any(|t| t == "PaymentFailed"),
                "order {order}: a push failed: {:?}",
                failures(&pool, *order).await
            );
            let (dispatched, answered): (bool, bool) = sqlx::query_as(
                "SELECT count(*) > 0, bool_or(checkout_request_id IS NOT NULL) \
                 FROM stk_dispatches WHERE order_id = $1",
            )
            .bind(order)
            .fetch_one(&pool)
            .await
            .map(|(d, a): (bool, Option<bool>)| (d, a.unwrap_or(false)))
            .unwrap();
            if dispatched && !answered && Instant::now() > deadline - WAIT / 2 {
                in_doubt.push(*order);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "order {order} never settled: {types:?} (logs in {})",
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Never two pushes for one order; one for every order paid.
    let pushes = cluster.pushes();
    let doubled: Vec<_> = pushes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "orders pushed twice: {doubled:?}");
    for order in &acked.orders {
        let stream = format!("order-{order}");
        if stream_types(&pool, &stream)
            .await
            .iter()
            .any(|t| t == "PaymentConfirmed")
        {
            assert_eq!(pushes.get(&account_reference(*order)), Some(&1), "{order}");
        }
    }
    // Stock: never oversold, and what was sold is what was paid for — counting every order
    // in the log: one placed on the victim whose answer the kill swallowed is no acknowledged
    // order, yet it may be paid.
    let sold: i64 = assert_no_oversell(&pool).await.values().sum();
    let (paid_in_log,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT stream_id) FROM events \
         WHERE event_type = 'PaymentConfirmed' AND stream_id LIKE 'order-%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(paid_in_log >= paid as i64, "{paid_in_log} < {paid}");
    assert_eq!(sold, paid_in_log, "units sold are the orders paid");
    // No deposed holder wrote under an old epoch: every lease the victim held has a new
    // epoch now, or is still the victim's and was never held by anyone else.
    let after = cluster.leases().await;
    for name in worker_leases() {
        if let (Some((was, before)), Some((now, epoch))) =
            (epochs_before.get(&name), after.get(&name))
        {
            assert!(
                (was == now && before == epoch) || epoch > before,
                "{name}: {was:?}@{before} then {now:?}@{epoch}"
            );
        }
    }

    let mut cluster = Arc::try_unwrap(cluster).ok().expect("clients are done");
    cluster.wait_projected().await;
    cluster.stop_all();
    assert_read_models_equal_rebuild(&cluster.database_url, &pool).await;
    eprintln!(
        "{fault:?}: takeover {takeover:?} (lease {LEASE_TTL:?}); {} orders acknowledged, \
         {paid} paid, {} cancelled, {} in doubt, {} STK pushes, requests unanswered {:?}, \
         503 while frozen {}",
        acked.orders.len(),
        acked.cancels.len(),
        in_doubt.len(),
        pushes.values().sum::<usize>(),
        acked.unanswered,
        acked.busy,
    );
    // Bounded: the lease time plus a keeper round or two.
    assert!(
        takeover < LEASE_TTL * 3,
        "{fault:?}: takeover took {takeover:?}"
    );
    drop(cluster);
    db.drop().await;
}

/// The reasons of an order's failed attempts.
async fn failures(pool: &sqlx::PgPool, order: Uuid) -> Vec<String> {
    let rows: Vec<(serde_json::Value,)> = sqlx::query_as(
        "SELECT data FROM events WHERE stream_id = $1 AND event_type = 'PaymentFailed'",
    )
    .bind(format!("order-{order}"))
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(d,)| d.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_payment_leader_loses_and_doubles_nothing() {
    run(Fault::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freezing_the_payment_leader_past_its_lease_loses_and_doubles_nothing() {
    run(Fault::Freeze).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_the_leaders_lease_session_loses_and_doubles_nothing() {
    run(Fault::TerminateLeaseSession).await;
}

/// The node sending an STK push is killed after Daraja got it and before the answer came
/// back: the push's fate is unknown (Daraja has no idempotency key for it), so the node that
/// takes over never sends it again; the customer asks for a new prompt and pays that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_between_an_stk_push_and_its_answer_never_sends_it_again() {
    let db = TestDb::empty().await;
    let cluster = Cluster::start(db.url(), db.pool.clone(), 2, FakeMode::Stall).await;
    let admin = cluster.admin();
    let product = cluster.product(0, &admin, "Heater", 5).await;
    cluster.wait_all_leases().await;
    let (victim, _) = cluster
        .holder(tillroll::workers::PAYMENT_LEASE)
        .await
        .unwrap();
    let victim = victim.unwrap();
    let survivor = 1 - victim;
    let (_, customer) = cluster.customer();
    let body = json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE});
    let placed = cluster
        .must(survivor, Method::POST, "/orders", &customer, Some(body))
        .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    let order: Uuid = placed.body["id"].as_str().unwrap().parse().unwrap();
    let reference = account_reference(order);
    let deadline = Instant::now() + WAIT;
    while !cluster.pushes().contains_key(&reference) {
        assert!(Instant::now() < deadline, "the push never reached Daraja");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(cluster.nodes[victim].pid, "KILL");
    let lease = [tillroll::workers::PAYMENT_LEASE.to_owned()];
    let takeover = cluster.wait_leases_away_from(&lease, victim).await;
    cluster
        .fake
        .set_mode(FakeMode::Callback(FakeOutcome::Success));
    // The new payment reactor has read past the request (its checkpoint is beyond it).
    let (requested_at,): (i64,) = sqlx::query_as(
        "SELECT l.log_index FROM events e JOIN event_log l USING (global_position) \
         WHERE e.stream_id = $1 AND e.event_type = 'PaymentRequested'",
    )
    .bind(format!("order-{order}"))
    .fetch_one(&cluster.pool)
    .await
    .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let (checkpoint,): (i64,) =
            sqlx::query_as("SELECT log_index FROM checkpoints WHERE name = 'payments'")
                .fetch_optional(&cluster.pool)
                .await
                .unwrap()
                .unwrap_or((-1,));
        if checkpoint >= requested_at {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the payment reactor did not move on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        cluster.pushes().get(&reference),
        Some(&1),
        "never sent again"
    );
    let path = format!("/orders/{order}");
    // The read model may be on its way over from the victim too: wait for it by position.
    let waiting = cluster
        .call(
            survivor,
            Method::GET,
            &path,
            &customer,
            None,
            placed.position,
        )
        .await
        .expect("the survivor answers");
    assert_eq!(waiting.body["status"], "pending_payment", "{waiting:?}");
    assert_eq!(
        waiting.body["payment"]["status"], "requested",
        "{waiting:?}"
    );

    // The customer asks for a new prompt: one more push, once, and it pays.
    let again = cluster
        .must(
            survivor,
            Method::POST,
            &format!("/orders/{order}/payment"),
            &customer,
            Some(json!({})),
        )
        .await;
    assert_eq!(again.status, 202, "{again:?}");
    let deadline = Instant::now() + WAIT;
    loop {
        let now = cluster
            .must(survivor, Method::GET, &path, &customer, None)
            .await;
        if now.body["status"] == "paid" {
            break;
        }
        assert!(Instant::now() < deadline, "not paid: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        cluster.pushes().get(&reference),
        Some(&2),
        "one push per attempt"
    );
    let (dispatched, answered): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(checkout_request_id) FROM stk_dispatches WHERE order_id = $1",
    )
    .bind(order)
    .fetch_one(&cluster.pool)
    .await
    .unwrap();
    assert_eq!(
        (dispatched, answered),
        (2, 1),
        "the first push's fate stays unknown"
    );
    assert_eq!(assert_no_oversell(&cluster.pool).await[&product], 1);
    eprintln!("killed mid-push: payment reactor taken over in {takeover:?}");
    drop(cluster);
    db.drop().await;
}
