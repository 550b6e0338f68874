//! What each `tillroll` subcommand does (the argument parsing is in main.rs).

use std::io::{BufWriter, Read, Write};
use std::process::ExitCode;

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tillroll_projections::RebuildProgress;

use crate::commands::Commands;
use crate::config::Config;
use crate::store::EventStore;
use crate::{Application, db};

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let json = std::env::var("TILLROLL_LOG_FORMAT").is_ok_and(|f| f == "json");
    // Colours only for a terminal: a file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn store(max_connections: u32) -> Result<(Config, EventStore), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let options = db::connect_options(&config).await?;
    let pool = db::pool(options, max_connections).await?;
    db::migrate(&pool).await?;
    open_store(config, pool).await
}

/// For commands that only read: the database must exist and be migrated; nothing is created.
async fn read_store(
    max_connections: u32,
) -> Result<(Config, EventStore), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let options = db::existing_options(&config).await?;
    let pool = db::pool(options, max_connections).await?;
    let applied: Option<(i64,)> = sqlx::query_as(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'events'",
    )
    .fetch_optional(&pool)
    .await?
    .filter(|(n,)| *n > 0);
    if applied.is_none() {
        return Err("the database has no tillroll tables (this command creates nothing: run `tillroll migrate` first)".into());
    }
    open_store(config, pool).await
}

async fn open_store(
    config: Config,
    pool: sqlx::PgPool,
) -> Result<(Config, EventStore), Box<dyn std::error::Error>> {
    let store = EventStore::new(pool);
    // Events appended while no server ran wait for a sequencer: give them their place first,
    // so what this command reads is the whole log.
    store.sequence_pending().await?;
    Ok((config, store))
}

/// After appending with no server's help: seals the new events into the transparency log and
/// signs a tree head, unless a running node holds the sealer's lease (it seals them itself).
async fn seal(config: &Config, store: &EventStore) -> Result<(), Box<dyn std::error::Error>> {
    store.sequence_pending().await?;
    let signer = crate::audit::heads::TreeSigner::load(
        store.pool(),
        config.audit_signing_key.as_ref().map(|k| k.expose()),
    )
    .await?;
    crate::audit::sealer::seal_unattended(store.pool(), &signer, config.lease_ttl).await?;
    Ok(())
}

pub async fn serve() -> CliResult {
    let config = Config::from_env()?;
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr(), "tillroll listening");
    app.run_until(crate::app::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn migrate() -> CliResult {
    store(2).await?;
    eprintln!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

pub async fn projections_status() -> CliResult {
    let (_, store) = read_store(2).await?;
    let head = store.head().await?;
    println!("log head: position {}", head.position);
    for projector in tillroll_projections::all() {
        let mut conn = store.pool().acquire().await?;
        let at = tillroll_projections::load_checkpoint(&mut conn, projector.name(), false).await?;
        let behind = head.log_index - at.log_index;
        println!(
            "{:<12} position {:>10}  behind {:>8}",
            projector.name(),
            at.position,
            behind
        );
    }
    Ok(ExitCode::SUCCESS)
}

struct Bar(ProgressBar);

impl RebuildProgress for Bar {
    fn advanced(&self, events: u64) {
        self.0.inc(events);
    }
}

pub async fn projections_rebuild(name: Option<String>) -> CliResult {
    let (_, store) = store(4).await?;
    let projectors: Vec<_> = tillroll_projections::all()
        .into_iter()
        .filter(|p| name.as_deref().is_none_or(|n| n == p.name()))
        .collect();
    if projectors.is_empty() {
        let names: Vec<_> = tillroll_projections::all()
            .iter()
            .map(|p| p.name())
            .collect();
        eprintln!(
            "no projector named {:?}; known: {}",
            name.unwrap_or_default(),
            names.join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(store.pool())
        .await?;
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40}] {pos}/{len} events ({per_sec}, {eta})",
    )?
    .progress_chars("=> ");
    // All of them (or the one named) in one pass over the log.
    let label = name.as_deref().unwrap_or("all");
    let bar = ProgressBar::new(total as u64)
        .with_style(style)
        .with_prefix(label.to_owned());
    let started = std::time::Instant::now();
    let refs: Vec<&dyn tillroll_projections::Projector> =
        projectors.iter().map(|p| p.as_ref()).collect();
    let events =
        tillroll_projections::rebuild_all(store.pool(), &store, &refs, &Bar(bar.clone())).await?;
    bar.finish();
    let names: Vec<&str> = projectors.iter().map(|p| p.name()).collect();
    eprintln!(
        "rebuilt {} from {} events in {:.2?}",
        names.join(", "),
        events,
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn audit_verify() -> CliResult {
    let (config, store) = read_store(3).await?;
    let grace = crate::audit::sealing_grace(&config);
    let report = crate::audit::verify::verify(&store, grace).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints the latest signed tree head (exit 1 before the first).
pub async fn audit_tree_head() -> CliResult {
    let config = Config::from_env()?;
    let options = db::connect_options(&config).await?;
    let pool = db::pool(options, 2).await?;
    match crate::audit::heads::latest(&pool).await? {
        Some(head) => {
            println!("{}", serde_json::to_string_pretty(&head)?);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("no tree head has been signed yet");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Checks an export offline: no database, no configuration, no secret.
pub fn audit_verify_export(
    file: &std::path::Path,
    public_key: &str,
    tree_head: Option<&std::path::Path>,
) -> CliResult {
    use crate::audit::{heads, offline};
    let key_text = match std::fs::read_to_string(public_key) {
        Ok(text) => text,
        Err(_) => public_key.to_owned(),
    };
    let Some(key) = heads::parse_public_key(&key_text) else {
        eprintln!("--public-key: expected the base64 of a 32-byte Ed25519 public key");
        return Ok(ExitCode::from(2));
    };
    let heads = match tree_head {
        None => Vec::new(),
        Some(path) => match offline::parse_heads(&std::fs::read_to_string(path)?) {
            Ok(heads) => heads,
            Err(message) => {
                eprintln!("--tree-head: {message}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let report = if file.as_os_str() == "-" {
        offline::verify_export(std::io::stdin().lock(), &key, &heads)?
    } else {
        let reader = std::io::BufReader::new(std::fs::File::open(file)?);
        offline::verify_export(reader, &key, &heads)?
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    if heads.is_empty() {
        eprintln!(
            "no --tree-head given: only the hash chains were checked; compare tree_size and              root_hash with a signed tree head"
        );
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn audit_export(after: i64) -> CliResult {
    let (_, store) = read_store(2).await?;
    let Some(at) = store.resolve(after).await? else {
        eprintln!("no event has position {after}");
        return Ok(ExitCode::from(2));
    };
    let range = crate::audit::export::Range {
        after: at,
        until: store.head().await?,
        limit: None,
        types: None,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut chunks = std::pin::pin!(crate::audit::export::ndjson(store, range));
    while let Some(chunk) = chunks.next().await {
        out.write_all(&chunk?)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub async fn create_admin(email: String, password_stdin: bool, name: String) -> CliResult {
    if !password_stdin {
        eprintln!("pass --password-stdin and the password on standard input");
        return Ok(ExitCode::from(2));
    }
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    let (config, store) = store(2).await?;
    let commands = Commands::new(store.clone());
    match crate::commands::accounts::create_admin(&commands, &email, &password, &name).await {
        Ok(id) => {
            store.announce().await?;
            seal(&config, &store).await?;
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(crate::commands::accounts::AccountError::Invalid(errors)) => {
            for error in errors {
                eprintln!("{error}");
            }
            Ok(ExitCode::from(2))
        }
        Err(error) => Err(error.into()),
    }
}

pub async fn demo() -> CliResult {
    let (config, store) = store(4).await?;
    let commands = Commands::new(store.clone());
    let summary = crate::demo::load(&commands).await?;
    store.announce().await?;
    seal(&config, &store).await?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
