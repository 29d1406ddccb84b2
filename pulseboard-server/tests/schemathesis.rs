//! schemathesis, an outside reader of `/openapi.json`, fuzzes every documented route of the
//! embedded server with `--checks all` and a real token, on a fixed seed and budget so a run is
//! repeatable, and must find nothing: what the document promises is what the routes do.
//! Installed at a pinned version by `scripts/sdk/install.sh` (which `scripts/test.sh` runs).

mod common;

use std::path::PathBuf;

use common::process::{Client, spawn_server};

const SDK_DIR_VAR: &str = "PULSEBOARD_TEST_SDK_DIR";
/// Fixed, so a failure found here is found again by the same command.
const SEED: &str = "20261130";
/// Examples per operation: the budget that keeps this test near a minute on 2 cores.
const MAX_EXAMPLES: &str = "25";

fn schemathesis() -> PathBuf {
    let dir = std::env::var(SDK_DIR_VAR).unwrap_or_else(|_| {
        panic!("{SDK_DIR_VAR} is not set: run the suite with scripts/test.sh, which installs schemathesis")
    });
    let program = PathBuf::from(&dir).join("contract-venv/bin/schemathesis");
    assert!(
        program.exists(),
        "schemathesis is not installed in {dir}: run scripts/sdk/install.sh {dir}"
    );
    program
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_difference_between_the_openapi_document_and_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let env = [(
        "PULSEBOARD_DATA_DIR",
        dir.path().join("data").display().to_string(),
    )];
    let (server, base) = spawn_server(&env, dir.path()).await;
    let client = Client::register_and_login(&base, "fuzz@example.com").await;
    let output = tokio::process::Command::new(schemathesis())
        .args(["run", &format!("{base}/openapi.json")])
        .args([
            "--checks",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            MAX_EXAMPLES,
        ])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", client.token),
        ])
        .args(["--workers", "1", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found differences ({}):\n{report}\nserver log:\n{}",
        output.status,
        server.log_text()
    );
}
