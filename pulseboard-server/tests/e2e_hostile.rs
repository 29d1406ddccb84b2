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
    // Throttling off: every abandoned login must reach the hasher.
    let env = vec![
        ("PULSEBOARD_DATA_DIR", data.display().to_string()),
        ("PULSEBOARD_LOGIN_ATTEMPTS_PER_ACCOUNT", "0".to_owned()),
        ("PULSEBOARD_LOGIN_ATTEMPTS_PER_ADDRESS", "0".to_owned()),
    ];
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
    // A login after them waits for a permit, so the hashes started before it have ended or
    // hold their permit's work area, which the baseline already counts.
    common::process::Client::login(&base, email).await;
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

/// Reads until the server closes the connection; `None` if it is still open at `deadline`.
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Milliseconds of `GET /health` on a connection of its own, `count` times in a row.
async fn health_latencies(base: &str, count: usize) -> Vec<u128> {
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let response = reqwest::Client::new()
            .get(format!("{base}/health"))
            .send()
            .await
            .expect("the server answers a normal client");
        assert_eq!(response.status(), 200);
        latencies.push(started.elapsed().as_millis());
    }
    latencies.sort_unstable();
    latencies
}

/// The server's `/metrics` text, on a connection of its own.
async fn metrics_text(base: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics answers");
    response.text().await.unwrap_or_default()
}

/// A fresh embedded server with `settings` in its environment.
async fn server_with(
    dir: &std::path::Path,
    settings: &[(&'static str, &str)],
) -> (Process, String, String) {
    let mut env = vec![(
        "PULSEBOARD_DATA_DIR",
        dir.join("data").display().to_string(),
    )];
    env.extend(
        settings
            .iter()
            .map(|(key, value)| (*key, (*value).to_owned())),
    );
    let (server, base) = spawn_server(&env, dir).await;
    let address = base.trim_start_matches("http://").to_owned();
    (server, base, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_half_open_requests_are_closed_by_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, address) =
        server_with(dir.path(), &[("PULSEBOARD_HEADER_READ_TIMEOUT_SECS", "3")]).await;
    let alone = health_latencies(&base, 50).await;

    let started = Instant::now();
    let mut half_open = Vec::with_capacity(3_000);
    for _ in 0..3_000 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream
            .write_all(b"POST /api/v1/events HTTP/1.1\r\nHost: pulseboard\r\nContent-")
            .await
            .unwrap();
        half_open.push(stream);
    }
    let opened = Instant::now();
    let during = health_latencies(&base, 50).await;

    let deadline = opened + Duration::from_secs(3 + 5);
    let mut still_open = 0;
    for stream in &mut half_open {
        if closed_by(stream, deadline).await.is_none() {
            still_open += 1;
        }
    }
    let all_closed_after = opened.elapsed();
    eprintln!(
        "half-open: 3,000 opened in {:?}, all closed {all_closed_after:?} after the last; \
         /health median {} ms alone, {} ms meanwhile (p99 {} vs {} ms)",
        opened - started,
        alone[25],
        during[25],
        alone[49],
        during[49],
    );
    assert_eq!(still_open, 0, "half-open connections outlived the timeout");
    // The server counts a timed-out connection as its task ends, which can be just after the
    // client sees the close: wait for the count rather than read it once.
    let counted_by = Instant::now() + Duration::from_secs(5);
    loop {
        let timed_out = timed_out_connections(&base).await;
        if timed_out >= 3_000 {
            break;
        }
        assert!(Instant::now() < counted_by, "{timed_out} timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `pulseboard_connections_timed_out_total` as `/metrics` shows it now.
async fn timed_out_connections(base: &str) -> u64 {
    metrics_text(base)
        .await
        .lines()
        .find_map(|line| line.strip_prefix("pulseboard_connections_timed_out_total "))
        .and_then(|value| value.parse().ok())
        .expect("the timed-out counter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_and_a_trickled_body_gets_408() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, _base, address) = server_with(
        dir.path(),
        &[
            ("PULSEBOARD_HEADER_READ_TIMEOUT_SECS", "2"),
            ("PULSEBOARD_BODY_READ_TIMEOUT_SECS", "2"),
        ],
    )
    .await;

    // Kept alive after an answer, then silent: closed once the header timeout passes.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: pulseboard\r\n\r\n")
        .await
        .unwrap();
    let answered = Instant::now();
    let received = closed_by(&mut idle, answered + Duration::from_secs(6))
        .await
        .expect("the idle connection is closed");
    assert!(received.starts_with(b"HTTP/1.1 200"), "{received:?}");
    assert!(
        answered.elapsed() >= Duration::from_secs(1),
        "closed too early"
    );

    // A body that trickles in, one byte every 300 ms, however steadily: 408, then closed.
    let mut trickle = TcpStream::connect(&address).await.unwrap();
    trickle
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: pulseboard\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    // Read while writing, so the answer is in hand before a byte sent after the close
    // could reset the connection.
    let (mut reader, mut writer) = trickle.into_split();
    let sender = tokio::spawn(async move {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut received),
    )
    .await
    .expect("the trickling connection is closed");
    sender.abort();
    eprintln!("trickled body answered after {:?}", started.elapsed());
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("did not arrive in time"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_bound_new_connections_are_closed_and_open_ones_served() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, address) =
        server_with(dir.path(), &[("PULSEBOARD_MAX_CONNECTIONS", "20")]).await;
    // Wait until the start-up health checks' connections are closed: the only one open is
    // the one asking.
    let started = Instant::now();
    while !metrics_text(&base)
        .await
        .lines()
        .any(|line| line == "pulseboard_connections_open 1")
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "connections stay open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(TcpStream::connect(&address).await.unwrap());
    }
    // Past the bound: accepted and closed at once, without an answer.
    let mut extra = TcpStream::connect(&address).await.unwrap();
    let _ = extra
        .write_all(b"GET /health HTTP/1.1\r\nHost: pulseboard\r\n\r\n")
        .await;
    let received = closed_by(&mut extra, Instant::now() + Duration::from_secs(5))
        .await
        .expect("the connection over the bound is closed");
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );

    // The open ones keep being served.
    let mut served = open.pop().unwrap();
    served
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: pulseboard\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let received = closed_by(&mut served, Instant::now() + Duration::from_secs(5))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("pulseboard_connections_refused_total 1"),
        "{text}"
    );
    drop(open);
}
