//! The transparency log from the outside: tree heads, inclusion and consistency proofs, and
//! the public key, checked by an independent RFC 9162 verifier (`rfc9162.rs`) against leaves
//! it computes itself from the export; bad requests; and the sealer's fence.

use serde_json::{Value, json};
use tillroll::audit::sealer::Sealer;
use tillroll::auth::Role;
use tillroll_events::{EncodedEvent, Metadata, StreamId};
use tillroll_projections::lease::Fence;
use uuid::Uuid;

use super::rfc9162::{self, Hash, hex32};
use super::{emit_many, export_text, sealed_head, token};
use crate::support::TestApp;

fn batch(n: usize, seed: u64) -> (StreamId, Vec<tillroll::store::NewEvent>) {
    let stream = StreamId::new("ledger", Uuid::now_v7());
    let events = (0..n)
        .map(|i| {
            tillroll::store::NewEvent::new(
                EncodedEvent {
                    event_type: "TestHappened".into(),
                    schema_version: 1,
                    data: json!({ "i": i, "seed": seed, "note": format!("é\"\\{seed:x}") }),
                    personal: Default::default(),
                },
                Metadata::system(Uuid::now_v7()),
            )
        })
        .collect();
    (stream, events)
}

/// A small deterministic generator (the sizes of the batches).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn hashes(values: &Value) -> Vec<Hash> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex32(h.as_str().unwrap()))
        .collect()
}

async fn all_heads(app: &TestApp, token: &str) -> Vec<Value> {
    let mut heads = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/audit/tree-heads?limit=7&cursor={c}"),
            None => "/audit/tree-heads?limit=7".to_owned(),
        };
        let page = app.get(&path, Some(token)).await.ok(200).clone();
        heads.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return heads,
        }
    }
}

#[tokio::test]
async fn proofs_and_heads_verify_with_an_independent_verifier_up_to_a_thousand_events() {
    let app = TestApp::spawn().await;
    let (_, auditor) = token(&app, Role::Auditor);
    let mut rng = Lcg(11);
    let mut total = 0;
    let mut seed = 0;
    while total < 1000 {
        let n = (1 + rng.next(70) as usize).min(1000 - total);
        seed += 1;
        emit_many(&app.state.store, vec![batch(n, seed)]).await;
        total += n;
        // Seal now and then: heads of many sizes, some several batches apart.
        if rng.next(3) == 0 || total == 1000 {
            sealed_head(&app, &auditor).await;
        }
    }
    let public_key = app
        .get("/audit/public-key", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(public_key["algorithm"], "Ed25519");

    // Every head, newest first, each signed by the key, each over the leaves as exported.
    let heads = all_heads(&app, &auditor).await;
    assert!(heads.len() >= 5, "{} heads", heads.len());
    let sizes: Vec<u64> = heads
        .iter()
        .map(|h| h["tree_size"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] > w[1]), "{sizes:?}");
    // Each head names the one before it: a signed chain.
    for pair in heads.windows(2) {
        assert_eq!(pair[0]["previous_tree_size"], pair[1]["tree_size"]);
    }
    assert_eq!(heads.last().unwrap()["previous_tree_size"], 0);
    assert_eq!(sizes[0], 1000);
    let export = export_text(&app, &auditor).await;
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1000);
    let leaves: Vec<Hash> = lines.iter().map(rfc9162::leaf_of_export_line).collect();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["log_index"], i as u64);
    }
    for head in &heads {
        assert!(rfc9162::head_signed_by(head, &public_key), "{head}");
        let size = head["tree_size"].as_u64().unwrap() as usize;
        assert_eq!(
            hex32(head["root_hash"].as_str().unwrap()),
            rfc9162::root(&leaves[..size]),
            "root of {size}"
        );
        assert_eq!(head["log_position"], lines[size - 1]["position"]);
    }

    // Consistency between every pair of successive heads, and some farther apart.
    let mut pairs: Vec<(usize, usize)> = (1..heads.len()).map(|i| (i, i - 1)).collect();
    pairs.extend([(heads.len() - 1, 0), (heads.len() / 2, 0)]);
    for (older, newer) in pairs {
        let (a, b) = (&heads[older], &heads[newer]);
        let (first, second) = (
            a["tree_size"].as_u64().unwrap(),
            b["tree_size"].as_u64().unwrap(),
        );
        let reply = app
            .get(
                &format!("/audit/proofs/consistency?first={first}&second={second}"),
                Some(&auditor),
            )
            .await
            .ok(200)
            .clone();
        assert_eq!(
            (reply["first"].as_u64(), reply["second"].as_u64()),
            (Some(first), Some(second))
        );
        let proof = hashes(&reply["proof"]);
        let (r1, r2) = (
            hex32(a["root_hash"].as_str().unwrap()),
            hex32(b["root_hash"].as_str().unwrap()),
        );
        assert!(
            rfc9162::verify_consistency(first, second, r1, r2, &proof),
            "{first} → {second}"
        );
        assert!(!rfc9162::verify_consistency(first, second, r2, r2, &proof));
    }

    // Inclusion of every event in the latest tree, and of random events in older ones.
    let latest_root = hex32(heads[0]["root_hash"].as_str().unwrap());
    for (i, line) in lines.iter().enumerate() {
        let id = line["event_id"].as_str().unwrap();
        let reply = app
            .get(
                &format!("/audit/proofs/inclusion?event_id={id}"),
                Some(&auditor),
            )
            .await
            .ok(200)
            .clone();
        assert_eq!(reply["leaf_index"], i as u64);
        assert_eq!(reply["tree_size"], 1000);
        assert_eq!(hex32(reply["leaf_hash"].as_str().unwrap()), leaves[i]);
        let path = hashes(&reply["audit_path"]);
        assert!(
            rfc9162::verify_inclusion(i as u64, 1000, leaves[i], &path, latest_root),
            "{i}"
        );
        if i == 0 {
            assert!(!rfc9162::verify_inclusion(
                1,
                1000,
                leaves[0],
                &path,
                latest_root
            ));
        }
    }
    for head in &heads[1..] {
        let size = head["tree_size"].as_u64().unwrap();
        let root = hex32(head["root_hash"].as_str().unwrap());
        for _ in 0..3 {
            let i = rng.next(size) as usize;
            let id = lines[i]["event_id"].as_str().unwrap();
            let reply = app
                .get(
                    &format!("/audit/proofs/inclusion?event_id={id}&tree_size={size}"),
                    Some(&auditor),
                )
                .await
                .ok(200)
                .clone();
            let path = hashes(&reply["audit_path"]);
            assert!(rfc9162::verify_inclusion(
                i as u64, size, leaves[i], &path, root
            ));
        }
    }

    // The server's own check agrees.
    let report = app
        .get("/audit/verify", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["tree"]["heads_checked"], heads.len() as u64);
    assert_eq!(report["tree"]["log_size"], 1000);
    app.stop().await;
}

#[tokio::test]
async fn bad_proof_requests_are_problems_naming_the_field() {
    let app = TestApp::spawn().await;
    let (_, auditor) = token(&app, Role::Auditor);
    let r = app
        .get("/audit/proofs/consistency?first=1", Some(&auditor))
        .await;
    assert_eq!(r.problem(404)["status"], 404, "no head yet");
    let appended = emit_many(&app.state.store, vec![batch(5, 1)]).await;
    let head = sealed_head(&app, &auditor).await;
    assert_eq!(head["tree_size"], 5);
    let known = appended.event_ids[0];
    let field_of = |reply: &crate::support::Reply, status: u16| {
        reply.problem(status)["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for (path, status, field) in [
        (
            format!("/audit/proofs/inclusion?event_id={known}&tree_size=6"),
            400,
            "tree_size",
        ),
        (
            format!("/audit/proofs/inclusion?event_id={known}&tree_size=0"),
            400,
            "tree_size",
        ),
        (
            format!("/audit/proofs/inclusion?event_id={known}&tree_size=x"),
            400,
            "tree_size",
        ),
        (
            format!("/audit/proofs/inclusion?event_id={}", Uuid::new_v4()),
            404,
            "event_id",
        ),
        (
            "/audit/proofs/inclusion?event_id=nope".to_owned(),
            400,
            "event_id",
        ),
        ("/audit/proofs/inclusion".to_owned(), 400, "event_id"),
        (
            "/audit/proofs/consistency?first=3&second=2".to_owned(),
            400,
            "first",
        ),
        (
            "/audit/proofs/consistency?first=1&second=6".to_owned(),
            400,
            "second",
        ),
        ("/audit/proofs/consistency?first=0".to_owned(), 400, "first"),
        ("/audit/proofs/consistency".to_owned(), 400, "first"),
        ("/audit/tree-heads?limit=0".to_owned(), 400, "limit"),
        ("/audit/tree-heads?cursor=garbage".to_owned(), 400, "cursor"),
        ("/audit/public-key?key_id=0000".to_owned(), 404, "key_id"),
    ] {
        let reply = app.get(&path, Some(&auditor)).await;
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
        assert_eq!(field_of(&reply, status), field, "{path}: {}", reply.text);
    }
    // An event the tree of a smaller size does not hold yet.
    let later = emit_many(&app.state.store, vec![batch(1, 2)])
        .await
        .event_ids[0];
    sealed_head(&app, &auditor).await;
    let reply = app
        .get(
            &format!("/audit/proofs/inclusion?event_id={later}&tree_size=5"),
            Some(&auditor),
        )
        .await;
    assert_eq!(field_of(&reply, 400), "tree_size");
    // Equal sizes: an empty proof.
    let reply = app
        .get("/audit/proofs/consistency?first=6&second=6", Some(&auditor))
        .await;
    assert_eq!(reply.ok(200)["proof"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn only_the_lease_holder_seals_and_racing_sealers_never_fork_the_tree() {
    let app = TestApp::spawn_without_sealer().await;
    let (_, auditor) = token(&app, Role::Auditor);
    let pool = app.pool().clone();
    let signer = app.state.tree_signer.clone();
    let lease = tillroll::workers::SEALER_LEASE.to_owned();
    let (holder, epoch): (String, i64) =
        sqlx::query_as("SELECT holder, epoch FROM leases WHERE name = $1")
            .bind(&lease)
            .fetch_one(&pool)
            .await
            .unwrap();
    let state = || async {
        let (size,): (i64,) = sqlx::query_as("SELECT size FROM audit_tree")
            .fetch_one(app.pool())
            .await
            .unwrap();
        let (nodes,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_tree_nodes")
            .fetch_one(app.pool())
            .await
            .unwrap();
        let (heads,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_tree_heads")
            .fetch_one(app.pool())
            .await
            .unwrap();
        (size, nodes, heads)
    };
    emit_many(&app.state.store, vec![batch(3, 1)]).await;
    app.state.store.sequence_pending().await.unwrap();

    // The node's own sealer does not hold the lease: nothing is sealed.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(state().await, (0, 0, 0));
    // A deposed holder (an older epoch) and a stranger are refused and write nothing.
    for fence in [
        Fence {
            lease: lease.clone(),
            holder: holder.clone(),
            epoch: epoch - 1,
        },
        Fence {
            lease: lease.clone(),
            holder: "intruder:1:deadbeef".into(),
            epoch,
        },
    ] {
        let refused = Sealer::default().seal(&pool, &signer, &fence).await;
        assert!(
            matches!(refused, Err(tillroll::audit::tree::TreeError::Deposed)),
            "{refused:?}"
        );
        assert_eq!(state().await, (0, 0, 0));
    }

    // Sealers racing under the holder's fence (an old pass still running beside a new one):
    // the compare-and-set lets one extend each size and refuses the others, so the tree
    // stays one tree and every head is over it.
    let fence = Fence {
        lease,
        holder,
        epoch,
    };
    let writers = async {
        for i in 0..20u64 {
            emit_many(&app.state.store, vec![batch(1 + (i % 4) as usize, 100 + i)]).await;
            app.state.store.sequence_pending().await.unwrap();
        }
    };
    let racer = |fence: Fence| {
        let (pool, signer) = (pool.clone(), signer.clone());
        async move {
            let mut sealer = Sealer::default();
            let mut refused = 0;
            for _ in 0..60 {
                if sealer.seal(&pool, &signer, &fence).await.is_err() {
                    refused += 1;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            refused
        }
    };
    let ((), a, b) = tokio::join!(writers, racer(fence.clone()), racer(fence.clone()));
    eprintln!("racing sealers refused {a} and {b} passes");
    Sealer::default()
        .seal(&pool, &signer, &fence)
        .await
        .unwrap();
    let head = sealed_head(&app, &auditor).await;
    let (size, _, _) = state().await;
    assert_eq!(head["tree_size"], size);
    let report = app
        .get("/audit/verify", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["tree"]["sealed_size"], size);
    assert_eq!(report["tree"]["log_size"], size);
    app.stop().await;
}
