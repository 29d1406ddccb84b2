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
/// Examples per operation: the budget that keeps this test near a minute on 2 cores (the
/// three passes took 52 + 12 + 4 s with 100 examples on a release build).
const MAX_EXAMPLES: &str = "40";

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

/// Runs one schemathesis pass over the operations `filter` selects, authenticated by `auth`;
/// its report, or a panic naming what it found.
async fn fuzz(schema_url: &str, auth: &[&str], filter: &[&str], work_dir: &std::path::Path) {
    let output = tokio::process::Command::new(schemathesis())
        // It keeps a cache in `.schemathesis/` of its working directory: not in the tree.
        .current_dir(work_dir)
        .args(["run", schema_url, "--checks", "all", "--no-color"])
        .args([
            "--seed",
            SEED,
            "--max-examples",
            MAX_EXAMPLES,
            "--workers",
            "1",
        ])
        .args(auth)
        .args(filter)
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs");
    assert!(
        output.status.success(),
        "schemathesis found differences over {filter:?} ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_difference_between_the_openapi_document_and_the_server() {
    const OPERATOR_TOKEN: &str = "operator-token-for-the-fuzzer";
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "PULSEBOARD_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("PULSEBOARD_OPERATOR_TOKEN", OPERATOR_TOKEN.to_owned()),
    ];
    let (server, base) = spawn_server(&env, dir.path()).await;
    let client = Client::register_and_login(&base, "fuzz@example.com").await;
    let (status, _, created) = client
        .post("/api/v1/write-keys", &serde_json::json!({"name": "fuzz"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let write_key = format!("{}:", created["write_key"].as_str().unwrap());
    let schema_url = format!("{base}/openapi.json");
    let bearer = |token: &str| format!("Authorization: Bearer {token}");
    // Three passes, one per credential: a user's token for the API, a write key (as Segment's
    // SDKs send it: Basic, the key as user name) for Segment's routes, the operator's token
    // for the dashboard. PostHog's and Snowplow's routes carry their key in the body or path:
    // the first pass reaches them with the write keys it creates (schemathesis links a created
    // key to the parameters that take one).
    let user = bearer(&client.token);
    let not_user_routes = ["--exclude-path-regex", "^/(v1|dashboard)/|^/dashboard$"];
    fuzz(
        &schema_url,
        &["--header", &user],
        &not_user_routes,
        dir.path(),
    )
    .await;
    fuzz(
        &schema_url,
        &["--auth", &write_key],
        &["--include-path-regex", "^/v1/"],
        dir.path(),
    )
    .await;
    let operator = bearer(OPERATOR_TOKEN);
    fuzz(
        &schema_url,
        &["--header", &operator],
        &["--include-path-regex", "^/dashboard"],
        dir.path(),
    )
    .await;
    drop(server);
}
