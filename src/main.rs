//! The `waymark` command: serve the API, migrate the database, seed demo data, print the OpenAPI
//! document, mint access tokens and make signing keys. Configuration comes from the environment
//! (see README.md); every subcommand reads the same variables.

mod cli_token;
mod seed;
mod seed_directory;
mod seed_ledger;
mod seed_pathway;
mod synthetic;
mod telemetry;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use waymark_http::auth::SigningKeys;
use waymark_http::{Application, Settings};

#[derive(Parser)]
#[command(
    name = "waymark",
    version,
    about = "Social prescribing across a federation of GP practices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API on WAYMARK_ADDR, logged in as DATABASE_URL.
    Serve,
    /// Apply pending database migrations as the schema owner (WAYMARK_MIGRATION_DATABASE_URL),
    /// and make sure the service's login (DATABASE_URL) holds only waymark_app's rights.
    Migrate {
        /// Then distribute the tables over the Citus cluster whose coordinator the URLs name
        /// (deploy/citus/README.md).
        #[arg(long)]
        citus: bool,
    },
    /// Create (or find) the demo federation, practices and users; print their ids and tokens as JSON.
    SeedDemo,
    /// Generate a whole federation from a seed and load it with COPY as the schema owner
    /// (WAYMARK_MIGRATION_DATABASE_URL); print what was made as JSON.
    SeedSynthetic(synthetic::SyntheticArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Mint an access token for local use.
    Token(cli_token::TokenArgs),
    /// Write a new Ed25519 signing key (PKCS#8 PEM) to PATH.
    Keygen {
        path: PathBuf,
        /// Replace an existing file.
        #[arg(long, conflicts_with = "keep_existing")]
        force: bool,
        /// Leave an existing file as it is and succeed (for a deployment's one-shot step that
        /// makes the key the first time only).
        #[arg(long)]
        keep_existing: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            let doc = waymark_http::document();
            println!(
                "{}",
                doc.to_pretty_json()
                    .context("rendering the OpenAPI document")?
            );
            Ok(())
        }
        Command::Keygen {
            path,
            force,
            keep_existing,
        } => {
            if keep_existing && path.exists() {
                eprintln!("{} exists; kept as it is", path.display());
                return Ok(());
            }
            keygen(&path, force)
        }
        command => {
            let settings = Settings::from_env()?;
            telemetry::init();
            actix_web::rt::System::new().block_on(run(command, settings))
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(settings.clone()).await?;
            tracing::info!(addr = %settings.addr, port = app.port(), "serving; API docs at /docs");
            app.run_until_stopped().await?;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Migrate { citus: false } => {
            waymark_persistence::migrate(&settings.migration_database_url, &settings.database_url)
                .await
                .context("migrating")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Migrate { citus: true } => {
            waymark_persistence::migrate_citus(
                &settings.migration_database_url,
                &settings.database_url,
            )
            .await
            .context("migrating and distributing over Citus")?;
            tracing::info!("migrations applied and tables distributed");
            Ok(())
        }
        Command::SeedDemo => {
            let seeded = seed::seed_demo(&settings).await?;
            println!("{}", serde_json::to_string_pretty(&seeded)?);
            Ok(())
        }
        Command::SeedSynthetic(args) => {
            let summary = synthetic::run(&settings, args).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Token(args) => {
            println!("{}", cli_token::mint(&settings, args).await?);
            Ok(())
        }
        Command::Openapi | Command::Keygen { .. } => unreachable!("handled without a runtime"),
    }
}

fn keygen(path: &PathBuf, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!("{} exists; pass --force to replace it", path.display());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    write_private(path, SigningKeys::generate_pem().as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote a new Ed25519 signing key to {}", path.display());
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &PathBuf, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

#[cfg(not(unix))]
fn write_private(path: &PathBuf, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
