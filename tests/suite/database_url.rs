//! What the binary does with the database it is pointed at: `DATABASE_URL` naming a database
//! that does not exist gets it created (as the default one is), by the commands that set up;
//! the commands that only read create nothing, not even tables. And `--help` says how to run.

use std::process::Output;

use crate::support::TestDb;

async fn tillroll(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .output()
        .await
        .expect("the tillroll binary runs")
}

/// `url` with its database renamed `name`.
fn renamed(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

async fn exists(db: &TestDb, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn drop_database(db: &TestDb, name: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_missing_database_is_created_by_setup_and_never_by_readers() {
    let probe = TestDb::empty().await;
    let name = format!("tillroll_test_fresh_{}", uuid::Uuid::new_v4().simple());
    let url = renamed(&probe.url(), &name);

    for args in [
        &["projections", "status"][..],
        &["audit", "verify"],
        &["audit", "export"],
    ] {
        let out = tillroll(&url, args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
        assert!(stderr.contains("does not exist"), "{args:?}: {stderr}");
        assert!(!exists(&probe, &name).await, "{args:?} created {name}");
    }

    let migrated = tillroll(&url, &["migrate"]).await;
    let log = String::from_utf8_lossy(&migrated.stderr);
    assert!(migrated.status.success(), "{log}");
    // Logged to a pipe: plain text, no colour escapes.
    assert!(log.contains("created the database"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
    assert!(exists(&probe, &name).await);
    let status = tillroll(&url, &["projections", "status"]).await;
    assert!(status.status.success(), "{status:?}");
    drop_database(&probe, &name).await;
    probe.drop().await;
}

#[tokio::test]
async fn readers_on_an_empty_database_create_no_tables() {
    let db = TestDb::empty().await;
    for args in [&["audit", "verify"][..], &["projections", "status"]] {
        let out = tillroll(&db.url(), args).await;
        assert!(!out.status.success(), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("tillroll migrate"), "{args:?}: {stderr}");
    }
    let (tables,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(tables, 0);
    db.drop().await;
}

#[tokio::test]
async fn help_says_how_to_run_it() {
    let help = tillroll("postgres://nowhere/none", &["--help"]).await;
    let text = String::from_utf8(help.stdout).unwrap();
    for needle in [
        "Usage: tillroll",
        "DATABASE_URL",
        "TILLROLL_LISTEN",
        "TILLROLL_MPESA_",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    let rebuild = tillroll(
        "postgres://nowhere/none",
        &["projections", "rebuild", "--help"],
    )
    .await;
    let text = String::from_utf8(rebuild.stdout).unwrap();
    assert!(
        [
            "catalog",
            "carts",
            "orders",
            "customers",
            "refunds",
            "payouts",
            "addresses",
            "seller_orders"
        ]
        .iter()
        .all(|name| text.contains(name)),
        "{text}"
    );
    let admin = tillroll(
        "postgres://nowhere/none",
        &["users", "create-admin", "--help"],
    )
    .await;
    let text = String::from_utf8(admin.stdout).unwrap();
    assert!(text.contains("The admin's e-mail"), "{text}");
}
