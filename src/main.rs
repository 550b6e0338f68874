//! The `tillroll` command line: `serve` (the default), `migrate`, `projections`, `audit`,
//! `users`, `demo`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tillroll::cli;

#[derive(Parser)]
#[command(
    name = "tillroll",
    version,
    about = "An event-sourced commerce backend"
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
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each projector's position and lag.
    Status,
    /// Rebuild one read model (or all) from the first event, swapping it in at the end.
    Rebuild { name: Option<String> },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every hash chain; exit code 1 on a broken chain.
    Verify,
    /// Record a signed checkpoint of every stream's head (publish its root elsewhere).
    Checkpoint,
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
        #[arg(long)]
        email: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
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
            AuditCommand::Checkpoint => cli::audit_checkpoint().await,
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
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
