//! The README's quick start as a new user runs it: the real `tillroll` binary with no
//! configuration but a free port (so the test does not collide with a server already on 8080)
//! and a database — a fresh, empty one of this test's own, not the shared default `tillroll`
//! (the binary would start reactors on whatever is there) — migrates it, and `/ready` answers
//! 200; a TERM stops it gracefully.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestDb;

#[tokio::test]
async fn the_server_starts_on_an_empty_database_and_becomes_ready() {
    let db = TestDb::empty().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let home = std::env::temp_dir().join(format!("tillroll-quickstart-{port}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("TILLROLL_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", db.url())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tillroll binary starts");

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let answer = client
            .get(format!("http://127.0.0.1:{port}/ready"))
            .send()
            .await;
        if let Ok(r) = answer
            && r.status() == 200
        {
            break true;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().unwrap();
    let (status, stderr) = (output.status, String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_dir_all(&home);
    assert!(ready, "/ready never answered 200 ({}): {stderr}", db.url());
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    // It set up the database it was given.
    let (migrations,): (i64,) = sqlx::query_as("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .expect("the binary ran the migrations");
    assert_eq!(migrations, tillroll::db::MIGRATOR.iter().count() as i64);
    db.drop().await;
}
