//! Redis lost under load: killed (`kill -9`) and restarted empty, as a restart without
//! persistence or a failover to an empty replica leaves it. Every accepted event must be final
//! soon after Redis answers again, with the normal lease (360 s) unchanged. This binary runs its
//! own Redis server, so it disturbs no other test.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::process::{Client, free_port, spawn, spawn_server, worker_binary};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// The bound: every accepted event final this soon after Redis is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// A throwaway Redis without persistence on `port`, ready when this returns; killed on drop.
async fn start_redis(port: u16, dir: &Path) -> tokio::process::Child {
    let child = tokio::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server runs (scripts/test.sh installs it)");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

/// Sends batches of 20 events with message ids until `stop`, resending a batch that was not
/// accepted (connection error, 503) with the same ids. The ids of every accepted event.
async fn load(client: Arc<Client>, stop: Arc<AtomicBool>, accepted: Arc<Mutex<HashSet<i64>>>) {
    let mut request = 0;
    while !stop.load(Ordering::Relaxed) {
        let events: Vec<Value> = (0..20)
            .map(|item| {
                json!({"event_name": "page_view", "event_type": "engagement",
                       "payload": {"page": "/p", "duration": 1}, "message_id": format!("{request}-{item}")})
            })
            .collect();
        loop {
            let (status, _, body) = client
                .post("/api/v1/events/batch", &json!({"events": events}))
                .await;
            if status == 202 {
                let ids = body["event_ids"].as_array().expect("ids");
                accepted
                    .lock()
                    .await
                    .extend(ids.iter().filter_map(Value::as_i64));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        request += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every event of the client's user, by id → status.
async fn statuses(client: &Client) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    let mut path = "/api/v1/events?limit=500".to_owned();
    loop {
        let (status, page) = client.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for event in page["items"].as_array().unwrap() {
            all.push((
                event["id"].as_i64().unwrap(),
                event["status"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_before_id"].as_i64() {
            Some(before) => path = format!("/api/v1/events?limit=500&before_id={before}"),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_whose_jobs_redis_lost_are_processed_within_seconds_of_its_return() {
    let dir = tempfile::tempdir().unwrap();
    let redis_port = free_port();
    let mut redis = start_redis(redis_port, dir.path()).await;
    let env = vec![
        (
            "DATABASE_URL",
            pulseboard_test_support::fresh_postgres_url().await,
        ),
        ("REDIS_URL", format!("redis://127.0.0.1:{redis_port}/")),
        (
            "PULSEBOARD_JWT_SECRET",
            "a-queue-loss-secret-long-enough-0123456789".to_owned(),
        ),
    ];
    let (server, base) = spawn_server(&env, dir.path()).await;
    let worker = spawn(&worker_binary(), &env, dir.path().join("worker.log"));
    let client = Arc::new(Client::register_and_login(&base, "queue-loss@example.com").await);

    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let sender = tokio::spawn(load(client.clone(), stop.clone(), accepted.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Pause the worker, so jobs pile up in Redis, then lose them all.
    worker.signal("-STOP");
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.kill().await.expect("kill -9 redis");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _redis = start_redis(redis_port, dir.path()).await;
    let back = Instant::now();
    worker.signal("-CONT");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    sender.await.unwrap();

    let accepted = accepted.lock().await.clone();
    assert!(
        accepted.len() >= 200,
        "the load ran: {} events",
        accepted.len()
    );
    loop {
        let stored = statuses(&client).await;
        let unfinished = stored
            .iter()
            .filter(|(_, status)| {
                !["processed", "validation_error", "failed"].contains(&status.as_str())
            })
            .count();
        if unfinished == 0 {
            let ids: HashSet<i64> = stored.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids, accepted, "every accepted event is stored, once");
            assert!(
                stored.iter().all(|(_, status)| status == "processed"),
                "all processed"
            );
            break;
        }
        assert!(
            back.elapsed() < RECOVERY_BOUND,
            "{unfinished} of {} events still unfinished {RECOVERY_BOUND:?} after Redis came back\n\
             worker log:\n{}\nserver log:\n{}",
            stored.len(),
            worker.log_text(),
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered_in = back.elapsed();
    eprintln!(
        "all {} accepted events final {:.1} s after Redis came back",
        accepted.len(),
        recovered_in.as_secs_f64()
    );
    assert!(
        worker.log_text().contains("the queue lost its jobs"),
        "the worker noticed the loss:\n{}",
        worker.log_text()
    );
}
