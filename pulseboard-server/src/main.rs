//! `pulseboard-server`: reads settings, sets up logging, serves (or migrates).

use clap::Parser;
use pulseboard_server::{Cli, Command};
use pulseboard_telemetry::logs as telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let settings = cli.settings();
    if let Some(Command::Migrate) = cli.command {
        pulseboard_store::connect(&settings.store_url(), 1, true).await?;
        tracing::info!("migrations applied");
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot listen on {} (PULSEBOARD_BIND): {error}",
                settings.bind
            )
        })?;
    let server = pulseboard_server::start(&settings).await?;
    server.serve(listener, telemetry::shutdown_signal()).await?;
    Ok(())
}
