//! Hostile clients against the real server binary: logins abandoned mid-hash, half-open
//! requests, idle connections, floods of connections.

mod common;

use std::time::{Duration, Instant};

use common::process::{Process, spawn_server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// One argon2 work area (the crate's default parameters: 19 MiB).
const WORK_AREA_BYTES: u64 = 19 * 1024 * 1024;

/// The resident set size of a running process, from `/proc`.
fn rss_bytes(process: &Process) -> u64 {
    let pid = process.child.id().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kib * 1024
}

/// The raw bytes of a login request for `email`.
fn login_request(address: &str, email: &str, password: &str) -> Vec<u8> {
    let body = serde_json::json!({"email": email, "password": password}).to_string();
    format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `clients` loops, for `duration`, each sending a whole login and hanging up 3 ms later.
async fn abandon_logins(address: &str, email: &str, clients: usize, duration: Duration) -> u64 {
    let request = login_request(address, email, "WrongPass123!");
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (address, request) = (address.to_owned(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let Ok(mut stream) = TcpStream::connect(&address).await else {
                    continue;
                };
                if stream.write_all(&request).await.is_ok() {
                    sent += 1;
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
                drop(stream);
            }
            sent
        }));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await.unwrap();
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_logins_do_not_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = vec![("PULSEBOARD_DATA_DIR", data.display().to_string())];
    let (server, base) = spawn_server(&env, dir.path()).await;
    let address = base.trim_start_matches("http://").to_owned();
    let email = "victim@example.com";
    common::process::Client::register_and_login(&base, email).await;
    // Touch every work area once (two logins per core), so the baseline holds them.
    let warm_up: Vec<_> = (0..4)
        .map(|_| common::process::Client::login(&base, email))
        .collect();
    futures::future::join_all(warm_up).await;
    let baseline = rss_bytes(&server);

    let abandoned = abandon_logins(&address, email, 20, Duration::from_secs(10)).await;
    // Let the hashes already started finish; then the server must be back near its baseline.
    common::process::Client::login(&base, email).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_bytes(&server);
    eprintln!(
        "aborted logins: {abandoned} sent; RSS {} MiB before, {} MiB after",
        baseline >> 20,
        after >> 20
    );
    assert!(abandoned > 100, "the clients sent {abandoned} logins");
    assert!(
        after <= baseline + 3 * WORK_AREA_BYTES,
        "RSS grew from {baseline} to {after} bytes"
    );
}
