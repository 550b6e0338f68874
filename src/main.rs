//! The `tillroll` command line: `serve` (the default), `migrate`, `projections`, `audit`,
//! `users`, `demo`, `db`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tillroll::cli;

/// The environment every subcommand reads (README, "Configuration").
const ENVIRONMENT: &str = "\
Environment (all optional):
  DATABASE_URL                 Postgres URL; its database is created if missing [default: local
                               server, database tillroll, created if missing; with no server, a
                               private cluster under TILLROLL_DATA_DIR]. `projections status`,
                               `audit verify` and `audit export` create nothing.
  TILLROLL_LISTEN              address to serve on [default: 127.0.0.1:8080]
  TILLROLL_PUBLIC_URL          base of the M-Pesa CallBackURL [default: http://<bound address>]
  TILLROLL_JWT_SECRET          >= 32 bytes [default: generated and stored in the database]
  TILLROLL_ADMIN_EMAIL, TILLROLL_ADMIN_PASSWORD   an admin that exists after start
  TILLROLL_RESERVATION_TTL     how long checkout holds stock [default: 15m]
  TILLROLL_RECONCILE_AFTER     query Daraja for pushes with no callback after [default: 2m]
  TILLROLL_ACCESS_TOKEN_TTL    [default: 15m]
  TILLROLL_AUDIT_TREE_HEAD_EVERY    how often a tree head is signed when the log grew [default: 1s]
  TILLROLL_AUDIT_SIGNING_KEY   Ed25519 key (base64, 32 bytes) [default: generated, kept in the
                               database]
  TILLROLL_READ_DATABASE_URL   a streaming replica for the query routes [default: none]
  TILLROLL_NATS_URL            publish every event to JetStream [default: none, nothing sent]
  TILLROLL_NATS_STREAM, TILLROLL_NATS_SUBJECT_PREFIX  [default: TILLROLL_EVENTS, tillroll]
  TILLROLL_WEBHOOKS_KEY        key (base64, 32 bytes) sealing webhook secrets [default:
                               generated, kept in the database]
  TILLROLL_WEBHOOKS_FIRST_RETRY     wait after a first failed delivery [default: 5s]
  TILLROLL_WEBHOOKS_ALLOW_PRIVATE   true: webhooks may call internal addresses [default: false]
  TILLROLL_MPESA_CONSUMER_KEY, _CONSUMER_SECRET, _SHORTCODE, _PASSKEY
                               Daraja credentials, all four or none [default: the simulator]
  TILLROLL_MPESA_B2C_SHORTCODE, _B2C_INITIATOR_NAME, _B2C_SECURITY_CREDENTIAL
                               Daraja B2C (refunds, payouts), all three or none, with the
                               credentials above [default: the simulator]
  TILLROLL_MPESA_BASE_URL      [default: https://sandbox.safaricom.co.ke]
  TILLROLL_MPESA_TRANSACTION_TYPE, TILLROLL_MPESA_PARTY_B, TILLROLL_MPESA_CALLBACK_TOKEN
  TILLROLL_PLATFORM_FEE_BPS    the platform's fee on sellers' delivered lines, in basis points
                               [default: 0]
  TILLROLL_PAYOUT_EVERY        how often sellers' balances are paid out [default: 1h]
  TILLROLL_CORS_ORIGINS        comma-separated origins, or * [default: none]
  TILLROLL_DB_POOL_SIZE        request connections per node, 2-500 [default: 8]
  TILLROLL_LEASE_TTL           worker lease lifetime [default: 5s]
  TILLROLL_HTTP_HEADER_TIMEOUT, TILLROLL_HTTP_BODY_TIMEOUT, TILLROLL_HTTP_MAX_CONNECTIONS
                               [default: 10s, 30s, 1024]
  TILLROLL_DATA_DIR            the private cluster's home [default: ~/.local/share/tillroll, as
                               root /var/lib/tillroll]; the cluster keeps running after
                               tillroll exits: `tillroll db status`, `tillroll db stop`
  TILLROLL_LOG_FORMAT          text or json [default: text]
  RUST_LOG                     log filter [default: info]";

#[derive(Parser)]
#[command(
    name = "tillroll",
    bin_name = "tillroll",
    version,
    about = "An event-sourced commerce backend",
    after_help = ENVIRONMENT
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server with its projectors and reactors (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Inspect or rebuild the read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Verify and export the event log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Load a demo catalog and demo users.
    Demo,
    /// The private Postgres cluster (used when there is no DATABASE_URL and no local server):
    /// it keeps running after tillroll exits, on purpose, for every tillroll process that
    /// uses it; stop it here.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Whether the private cluster under TILLROLL_DATA_DIR runs (exit 0) or not (exit 3).
    Status,
    /// Initialise it if needed and start it (serve does this by itself when no Postgres
    /// answers).
    Start,
    /// Stop it (fast shutdown: sessions end, committed data is kept).
    Stop,
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each projector's position and lag.
    Status,
    /// Rebuild one read model (or all) from the first event, swapping it in at the end.
    Rebuild {
        /// The projector: catalog, carts, orders, customers, refunds, payouts, addresses or
        /// seller_orders [default: all of them].
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every hash chain, the Merkle tree and every kept tree head; exit code 1 on
    /// anything broken.
    Verify,
    /// Check an NDJSON export offline (no database) against signed tree heads and the public
    /// key; exit code 1 when it fails.
    VerifyExport {
        /// The export (`tillroll audit export` or `GET /audit/events`), `-` for stdin.
        file: std::path::PathBuf,
        /// The public key: its base64, or a file holding it or `GET /audit/public-key`'s JSON.
        #[arg(long)]
        public_key: String,
        /// Tree heads kept from before: one head, a JSON list, a page of
        /// `GET /audit/tree-heads`, or NDJSON of heads.
        #[arg(long)]
        tree_head: Option<std::path::PathBuf>,
    },
    /// Print the latest signed tree head as JSON (to publish elsewhere).
    TreeHead,
    /// Write the log as NDJSON to stdout.
    Export {
        /// Start after this position.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create an admin account (or make an existing account admin).
    CreateAdmin {
        /// The admin's e-mail (an existing account with it becomes admin).
        #[arg(long)]
        email: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The account's display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    cli::init_tracing();
    let args = Cli::parse();
    let result = match args.command.unwrap_or(Command::Serve) {
        Command::Serve => cli::serve().await,
        Command::Migrate => cli::migrate().await,
        Command::Projections { command } => match command {
            ProjectionsCommand::Status => cli::projections_status().await,
            ProjectionsCommand::Rebuild { name } => cli::projections_rebuild(name).await,
        },
        Command::Audit { command } => match command {
            AuditCommand::Verify => cli::audit_verify().await,
            AuditCommand::VerifyExport {
                file,
                public_key,
                tree_head,
            } => cli::audit_verify_export(&file, &public_key, tree_head.as_deref()),
            AuditCommand::TreeHead => cli::audit_tree_head().await,
            AuditCommand::Export { after } => cli::audit_export(after).await,
        },
        Command::Users { command } => match command {
            UsersCommand::CreateAdmin {
                email,
                password_stdin,
                name,
            } => cli::create_admin(email, password_stdin, name).await,
        },
        Command::Demo => cli::demo().await,
        Command::Db { command } => match command {
            DbCommand::Status => tillroll::cluster::status(),
            DbCommand::Start => tillroll::cluster::start(),
            DbCommand::Stop => tillroll::cluster::stop(),
        },
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
