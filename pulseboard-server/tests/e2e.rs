//! The seed guide, end to end, against the real binaries on real sockets.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::process::{Client, accepted_total, spawn, spawn_server, worker_binary};
use serde_json::{Value, json};

use pulseboard_test_support::seed::{batch as seed_batch, event as seed_event};

/// register → login → submit → processed; batch of 3; oversize payload; missing field.
async fn walk_the_seed_guide(client: &Client) {
    let (status, _, accepted) = client.post("/api/v1/events", &seed_event()).await;
    assert_eq!(status, 202);
    assert_eq!(
        (accepted["status"].as_str(), accepted["message"].as_str()),
        (Some("enqueued"), Some("Event enqueued for processing"))
    );
    let event = client
        .wait_final(
            accepted["event_id"].as_i64().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(event["processed"], true);
    assert!(event["processed_at"].is_string());
    assert_eq!(event["properties"]["original"], seed_event()["payload"]);
    assert!(event["properties"]["normalized_at"].is_string());
    assert_eq!(event["properties"]["page"], "/dashboard");
    assert_eq!(event["properties"]["duration"], json!(45.0));
    assert_eq!(event["properties"]["scroll_depth"], json!(75.0));

    let (status, _, batch) = client.post("/api/v1/events/batch", &seed_batch()).await;
    assert_eq!((status, batch["event_count"].as_i64()), (202, Some(3)));
    for id in batch["event_ids"].as_array().unwrap() {
        let event = client
            .wait_final(id.as_i64().unwrap(), Duration::from_secs(20))
            .await;
        assert_eq!(
            (event["processed"].as_bool(), &event["task_id"]),
            (Some(true), &batch["task_id"])
        );
    }

    let huge = json!({"event_name": "page_view", "event_type": "engagement", "payload": {"data": "x".repeat(1_100 * 1024)}});
    let (status, _, accepted) = client.post("/api/v1/events", &huge).await;
    assert_eq!(status, 202, "accepted, then judged by the worker");
    let event = client
        .wait_final(
            accepted["event_id"].as_i64().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(
        (
            event["processed"].as_bool(),
            event["processed_at"].is_null()
        ),
        (Some(false), true)
    );
    assert_eq!(event["processing_error"], "Payload exceeds 1MB size limit");

    let (status, _, error) = client
        .post(
            "/api/v1/events",
            &json!({"event_type": "engagement", "payload": {}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(error["detail"][0]["loc"], json!(["body", "event_name"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_guide_works_on_the_embedded_binary_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = [(
        "PULSEBOARD_DATA_DIR",
        dir.path().join("data").display().to_string(),
    )];
    let (server, base) = spawn_server(&env, dir.path()).await;
    let client = Client::register_and_login(&base, "test@example.com").await;
    walk_the_seed_guide(&client).await;
    // A job logs its completion just after its commit, which the guide's reads may see first.
    let expected = [
        "Starting processing",
        "Payload validation passed",
        "Marked processed at",
        "Processing completed successfully",
        "[Batch] Processing 3 events",
        "[Batch] Completed: 3 processed, 0 failed out of 3 total",
    ];
    let waiting_since = Instant::now();
    let log = loop {
        let log = server.log_text();
        let missing = expected.iter().find(|line| !log.contains(*line));
        match missing {
            None => break log,
            Some(line) if waiting_since.elapsed() > Duration::from_secs(10) => {
                panic!("log lacks {line:?} 10 s after the events were final:\n{log}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    // A job's lines carry its span: the task id the client got, so a request can be followed.
    let (_, first) = client.get("/api/v1/events/1").await;
    let task_id = first["task_id"].as_str().expect("task_id");
    assert!(
        log.lines()
            .any(|line| line.contains(&format!("task_id={task_id}"))
                && line.contains("Processing completed successfully")),
        "no job line names task {task_id}:\n{log}"
    );
    drop(server); // SIGKILL

    // Same data directory: the user, the token and the events are still there.
    let (_server, base) = spawn_server(&env, dir.path()).await;
    let (status, event) = Client { base, ..client }.get("/api/v1/events/1").await;
    assert_eq!((status, event["processed"].as_bool()), (200, Some(true)));
}

/// Posts batches of 20 events until the server stops answering 202; returns every accepted id.
async fn submit_until_refused(client: reqwest::Client, base: String, token: String) -> Vec<i64> {
    let body = json!({ "events": vec![seed_event(); 20] });
    let mut accepted = Vec::new();
    loop {
        let sent = client
            .post(format!("{base}/api/v1/events/batch"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await;
        let Ok(response) = sent else { return accepted };
        if response.status() != 202 {
            return accepted;
        }
        let Ok(answer) = response.json::<Value>().await else {
            return accepted;
        };
        let ids = answer["event_ids"].as_array().expect("event_ids");
        accepted.extend(ids.iter().map(|id| id.as_i64().expect("an id")));
    }
}

/// Every event of the client's user with its status, by paging through the listing.
async fn statuses_by_id(client: &Client) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    let mut path = "/api/v1/events?limit=500".to_owned();
    loop {
        let (status, page) = client.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for event in page["items"].as_array().expect("items") {
            let id = event["id"].as_i64().expect("id");
            all.push((id, event["status"].as_str().unwrap_or("").to_owned()));
        }
        match page["next_before_id"].as_i64() {
            Some(before) => path = format!("/api/v1/events?limit=500&before_id={before}"),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_cleanly_and_every_accepted_event_is_processed() {
    let dir = tempfile::tempdir().unwrap();
    let env = [(
        "PULSEBOARD_DATA_DIR",
        dir.path().join("data").display().to_string(),
    )];
    let (mut server, base) = spawn_server(&env, dir.path()).await;
    let client = Client::register_and_login(&base, "term@example.com").await;
    let submitters: Vec<_> = (0..4)
        .map(|_| {
            let (http, base, token) = (client.http.clone(), base.clone(), client.token.clone());
            tokio::spawn(submit_until_refused(http, base, token))
        })
        .collect();
    // SIGTERM mid-load: once some batches were accepted.
    let started = Instant::now();
    while accepted_total(&base).await < 100 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let exit = pulseboard_test_support::terminate(&mut server.child).await;
    assert!(exit.success(), "exit status {exit}:\n{}", server.log_text());
    let mut accepted = BTreeSet::new();
    for submitter in submitters {
        accepted.extend(submitter.await.unwrap());
    }
    assert!(
        !accepted.is_empty(),
        "some batches were accepted before SIGTERM"
    );

    // Same data directory: the restart resumes whatever the stopped server left unfinished.
    let (_server, base) = spawn_server(&env, dir.path()).await;
    let client = Client { base, ..client };
    let started = Instant::now();
    loop {
        let events = statuses_by_id(&client).await;
        let stored: BTreeSet<i64> = events.iter().map(|(id, _)| *id).collect();
        assert!(
            accepted.is_subset(&stored),
            "every event answered with 202 is stored"
        );
        if events.iter().all(|(_, status)| status == "processed") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "events still unfinished 60 s after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_guide_works_in_production_mode_with_two_workers_on_one_redis() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = pulseboard_test_support::fresh_postgres_url().await;
    let env = vec![
        ("DATABASE_URL", database_url),
        ("REDIS_URL", common::redis_url()),
        (
            "PULSEBOARD_REDIS_QUEUE",
            format!("e2e_{}", ulid::Ulid::generate()),
        ),
        (
            "PULSEBOARD_JWT_SECRET",
            "an-end-to-end-secret-long-enough-0123456789".to_owned(),
        ),
    ];
    let (_server, base) = spawn_server(&env, dir.path()).await;
    let workers: Vec<_> = (0..2)
        .map(|n| {
            spawn(
                &worker_binary(),
                &env,
                dir.path().join(format!("worker-{n}.log")),
            )
        })
        .collect();
    let client = Client::register_and_login(&base, "prod@example.com").await;
    walk_the_seed_guide(&client).await;

    let event = seed_event();
    let mut accepted = Vec::new();
    for _ in 0..200 {
        accepted.push(client.post("/api/v1/events", &event).await);
    }
    for (status, _, body) in &accepted {
        assert_eq!(*status, 202);
        client
            .wait_final(body["event_id"].as_i64().unwrap(), Duration::from_secs(30))
            .await;
    }
    let started: usize = workers
        .iter()
        .map(|w| w.log_text().matches("worker starting").count())
        .sum();
    assert_eq!(started, 2, "both workers registered on the queue");
}
