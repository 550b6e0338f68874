//! The README's quick start as a new user runs it: `tillroll` with no configuration at all
//! (only a free port, so the test does not collide with a server already on 8080) comes up on
//! the embedded default — local Postgres, database `tillroll` created if missing — and
//! `/ready` answers 200.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_server_starts_with_no_configuration_and_becomes_ready() {
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
        .stdout(Stdio::null())
        .stderr(Stdio::null())
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
    let status = child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert!(ready, "/ready never answered 200");
    assert!(status.success(), "graceful shutdown exits 0: {status}");
}
