//! The private cluster's lifetime, decided: it outlives the tillroll process that started it
//! (others may be using it) and `tillroll db status | start | stop` say and change whether
//! it runs. The real binary, on a throwaway data directory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

async fn tillroll(data_dir: &Path, args: &[&str]) -> (i32, String) {
    let output: Output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("USER", std::env::var("USER").unwrap_or_default())
        .env("TILLROLL_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the tillroll binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().expect("tillroll exits"), text)
}

#[tokio::test]
async fn db_status_start_and_stop_manage_the_private_cluster() {
    let dir = std::env::temp_dir().join(format!("tillroll-db-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    // As root, the cluster runs as `postgres`, which must reach it.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (code, text) = tillroll(&dir, &["db", "status"]).await;
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("no private cluster"), "{text}");

    let (code, text) = tillroll(&dir, &["db", "start"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(dir.join("postgres/PG_VERSION").exists());
    let (code, text) = tillroll(&dir, &["db", "status"]).await;
    assert_eq!((code, text.contains("is running")), (0, true), "{text}");

    let (code, text) = tillroll(&dir, &["db", "stop"]).await;
    assert_eq!(code, 0, "{text}");
    let (code, text) = tillroll(&dir, &["db", "status"]).await;
    assert_eq!((code, text.contains("is stopped")), (3, true), "{text}");
    // Stopping what is stopped is no error.
    let (code, text) = tillroll(&dir, &["db", "stop"]).await;
    assert_eq!(code, 0, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn help_names_every_variable_and_says_the_cluster_outlives_the_server() {
    let dir = std::env::temp_dir();
    let (code, text) = tillroll(&dir, &["--help"]).await;
    assert_eq!(code, 0);
    assert!(text.contains("tillroll db stop"), "{text}");
    // Every variable the configuration reads is in --help (the stream's default name is no
    // variable).
    let config = include_str!("../../src/config.rs");
    for name in config
        .split('"')
        .filter(|s| s.starts_with("TILLROLL_") && *s != "TILLROLL_EVENTS")
    {
        let short = name.trim_start_matches("TILLROLL_MPESA");
        assert!(
            text.contains(name) || (name.starts_with("TILLROLL_MPESA") && text.contains(short)),
            "{name} is not in --help"
        );
    }
    let (code, text) = tillroll(&dir, &["db", "--help"]).await;
    assert_eq!(code, 0);
    for word in ["status", "start", "stop"] {
        assert!(text.contains(word), "{word}: {text}");
    }
}
