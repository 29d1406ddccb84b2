//! One contract suite, run against both backends: every test below exists once per backend.
//! PostgreSQL tests use a fresh database on the server `scripts/test.sh` starts.

use std::sync::Arc;

use chrono::Utc;
use pulseboard_core::{EventStatus, NewEvent, RawEventFields};
use pulseboard_store::{
    EventFilter, EventId, EventOutcome, EventStore, EventToInsert, InsertedEvent, NewUser,
    ReplaySelection, StaleEvents, StoreError, SweepCursor, User, UserId, WriteKeyId, WriteKeyUse,
};
use pulseboard_test_support::{
    activity_totals, fresh_postgres_url, fresh_sqlite_url, status_counts,
};

/// A store plus whatever must live as long as it (the SQLite temp dir).
struct TestStore {
    store: Arc<dyn EventStore>,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = pulseboard_store::connect(&fresh_sqlite_url(dir.path()), 4, true)
        .await
        .expect("sqlite store");
    TestStore {
        store,
        _dir: Some(dir),
    }
}

async fn postgres() -> TestStore {
    let store = pulseboard_store::connect(&fresh_postgres_url().await, 8, true)
        .await
        .expect("postgres store");
    TestStore { store, _dir: None }
}

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::sqlite().await.store).await })*
        }
        mod postgres_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::postgres().await.store).await })*
        }
    };
}

contract_tests!(
    duplicate_emails_are_refused_whatever_their_case,
    inserted_ids_come_back_in_request_order,
    owners_see_only_their_own_events,
    listing_filters_and_pages_newest_first,
    every_status_round_trips,
    two_concurrent_appliers_finish_an_event_exactly_once,
    final_events_are_never_loaded_again,
    retries_then_failure_follow_the_status_model,
    stale_unfinished_events_are_swept_once_per_cutoff,
    an_outcome_judged_before_a_counted_failure_changes_nothing,
    time_filters_compare_instants_past_four_digit_years,
    touching_renews_the_lease_of_unfinished_events_only,
    a_repeated_message_id_stores_nothing_and_answers_with_the_first_event,
    unicode_and_one_mebibyte_payloads_round_trip_byte_for_byte,
    operations_views_count_and_list_failures,
    sdk_fields_round_trip_and_native_events_leave_them_empty,
    rejected_events_are_stored_judged_and_never_loaded_for_processing,
    write_keys_are_found_by_hash_until_revoked_and_count_their_use,
    replay_moves_only_the_owners_failures_back_to_enqueued,
    retention_purges_only_final_events_older_than_the_cutoff,
    a_purged_events_message_id_can_be_used_again,
    the_dashboard_counters_agree_with_the_rows_after_every_kind_of_write,
    login_attempts_are_counted_per_key_newest_first_and_forgotten,
    a_lease_is_held_by_one_holder_until_it_expires,
);

async fn a_lease_is_held_by_one_holder_until_it_expires(store: Arc<dyn EventStore>) {
    let ttl = std::time::Duration::from_millis(300);
    let hold = |holder: &'static str| {
        let store = store.clone();
        async move { store.hold_lease("retention", holder, ttl).await.unwrap() }
    };
    assert!(hold("a").await, "a free lease is taken");
    assert!(!hold("b").await, "held by another");
    assert!(hold("a").await, "renewed by its holder");
    assert!(
        store.hold_lease("other-task", "b", ttl).await.unwrap(),
        "each name is a lease of its own"
    );
    tokio::time::sleep(ttl + std::time::Duration::from_millis(100)).await;
    assert!(hold("b").await, "taken over once expired");
    assert!(!hold("a").await, "the old holder lost it");
}

async fn user(store: &Arc<dyn EventStore>, email: &str) -> User {
    let new = NewUser {
        email: email.to_owned(),
        password_hash: "hash".to_owned(),
        full_name: Some("T".to_owned()),
    };
    store.create_user(&new).await.expect("create user")
}

fn event(name: &str, payload_json: &str) -> NewEvent {
    NewEvent::parse(RawEventFields {
        event_name: Some(name),
        event_type: Some("engagement"),
        source: Some("web"),
        session_id: Some("sess_123"),
        payload_json: Some(payload_json),
        ..Default::default()
    })
    .expect("valid event")
}

fn event_with_id(name: &str, message_id: &str) -> NewEvent {
    NewEvent::parse(RawEventFields {
        event_name: Some(name),
        event_type: Some("engagement"),
        message_id: Some(message_id),
        ..Default::default()
    })
    .expect("valid event")
}

/// Inserts under `task_id` for `owner`; what became of each event.
async fn insert_as(
    store: &dyn EventStore,
    task_id: &str,
    owner: UserId,
    events: &[NewEvent],
) -> Vec<InsertedEvent> {
    let rows: Vec<_> = events
        .iter()
        .map(|event| EventToInsert { owner, event })
        .collect();
    store.insert_events(task_id, &rows).await.expect("insert")
}

async fn insert(store: &Arc<dyn EventStore>, owner: &User, events: &[NewEvent]) -> Vec<EventId> {
    let rows: Vec<_> = events
        .iter()
        .map(|event| EventToInsert {
            owner: owner.id,
            event,
        })
        .collect();
    let inserted = store.insert_events("task-1", &rows).await.expect("insert");
    inserted.into_iter().map(|event| event.id).collect()
}

fn processed(id: EventId) -> EventOutcome {
    EventOutcome {
        id,
        status: EventStatus::Processed,
        properties_json: Some(r#"{"page":"/"}"#.to_owned()),
        error: None,
        decided_at: Utc::now(),
        attempts_before: 0,
    }
}

async fn duplicate_emails_are_refused_whatever_their_case(store: Arc<dyn EventStore>) {
    let created = user(&store, "Test@Example.com").await;
    let again = NewUser {
        email: "test@example.COM".into(),
        password_hash: "h".into(),
        full_name: None,
    };
    assert!(matches!(
        store.create_user(&again).await,
        Err(StoreError::DuplicateEmail)
    ));
    let found = store
        .find_user_by_email("TEST@example.com")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.id, created.id);
    assert!(
        store
            .find_user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // Beyond ASCII too, the same on both stores: SQLite's lower() once let these be two.
    let umlaut = user(&store, "Ä@b.co").await;
    for other in ["ä@b.co", "a\u{308}@b.co"] {
        let again = NewUser {
            email: other.into(),
            password_hash: "h".into(),
            full_name: None,
        };
        assert!(
            matches!(
                store.create_user(&again).await,
                Err(StoreError::DuplicateEmail)
            ),
            "{other} is Ä@b.co"
        );
        let found = store.find_user_by_email(other).await.unwrap();
        assert_eq!(found.map(|user| user.id), Some(umlaut.id), "{other}");
    }
}

async fn inserted_ids_come_back_in_request_order(store: Arc<dyn EventStore>) {
    let owner = user(&store, "a@example.com").await;
    let events: Vec<NewEvent> = (0..1_200).map(|i| event(&format!("e{i}"), "{}")).collect();
    let ids = insert(&store, &owner, &events).await;
    assert_eq!(ids.len(), 1_200);
    for (index, id) in ids.iter().enumerate().step_by(97) {
        let stored = store
            .get_event(*id, Some(owner.id))
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(stored.event_name, format!("e{index}"));
        assert_eq!(stored.status, EventStatus::Enqueued);
        assert_eq!(stored.task_id, "task-1");
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
}

async fn owners_see_only_their_own_events(store: Arc<dyn EventStore>) {
    let alice = user(&store, "alice@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let ids = insert(&store, &alice, &[event("mine", "{}")]).await;
    assert!(
        store
            .get_event(ids[0], Some(bob.id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_event(ids[0], Some(alice.id))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store.get_event(ids[0], None).await.unwrap().is_some(),
        "operators see every event"
    );
    let bobs = store
        .list_events(
            bob.id,
            &EventFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(bobs.is_empty());
}

async fn listing_filters_and_pages_newest_first(store: Arc<dyn EventStore>) {
    let owner = user(&store, "l@example.com").await;
    let names = ["view", "click", "view", "view", "click"];
    let events: Vec<NewEvent> = names.iter().map(|name| event(name, "{}")).collect();
    let ids = insert(&store, &owner, &events).await;
    store.apply_outcomes(&[processed(ids[0])]).await.unwrap();

    let page = |before_id, limit| EventFilter {
        event_name: Some("view".into()),
        before_id,
        limit,
        ..Default::default()
    };
    let first = store.list_events(owner.id, &page(None, 2)).await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[3], ids[2]]
    );
    let second = store
        .list_events(owner.id, &page(Some(first[1].id), 2))
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );

    let by_status = EventFilter {
        status: Some(EventStatus::Processed),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store.list_events(owner.id, &by_status).await.unwrap().len(),
        1
    );
    let future = EventFilter {
        created_from: Some(Utc::now() + chrono::Duration::hours(1)),
        limit: 10,
        ..Default::default()
    };
    assert!(
        store
            .list_events(owner.id, &future)
            .await
            .unwrap()
            .is_empty()
    );
    let past = EventFilter {
        created_until: Some(Utc::now() + chrono::Duration::hours(1)),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.list_events(owner.id, &past).await.unwrap().len(), 5);

    let failing = [ids[1], ids[4]];
    store
        .record_retry(&failing, "Processing error: x")
        .await
        .unwrap();
    store
        .mark_failed(&failing, "Processing error: x")
        .await
        .unwrap();
    let failed = EventFilter {
        status: Some(EventStatus::Failed),
        limit: 10,
        ..Default::default()
    };
    let listed = store.list_events(owner.id, &failed).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[4], ids[1]]
    );
    let every_filter = EventFilter {
        status: Some(EventStatus::Failed),
        event_name: Some("click".into()),
        created_from: Some(Utc::now() - chrono::Duration::hours(1)),
        created_until: Some(Utc::now() + chrono::Duration::hours(1)),
        before_id: Some(ids[4]),
        limit: 10,
        message_id: None,
    };
    let listed = store.list_events(owner.id, &every_filter).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[1]],
        "all filters at once"
    );
}

async fn every_status_round_trips(store: Arc<dyn EventStore>) {
    let owner = user(&store, "s@example.com").await;
    let ids = insert(
        &store,
        &owner,
        &(0..5)
            .map(|i| event(&format!("s{i}"), "{}"))
            .collect::<Vec<_>>(),
    )
    .await;
    store
        .record_retry(&ids[2..4], "Processing error: down")
        .await
        .unwrap();
    store
        .mark_failed(&ids[3..4], "Processing error: down")
        .await
        .unwrap();
    let rejected = EventOutcome {
        id: ids[4],
        status: EventStatus::ValidationError,
        properties_json: None,
        error: Some("Payload exceeds 1MB size limit".into()),
        decided_at: Utc::now(),
        attempts_before: 0,
    };
    store.apply_outcomes(&[rejected]).await.unwrap();
    let expected = [
        EventStatus::Enqueued,
        EventStatus::Enqueued,
        EventStatus::Retrying,
        EventStatus::Failed,
        EventStatus::ValidationError,
    ];
    for (id, status) in ids.iter().zip(expected) {
        assert_eq!(
            store.get_event(*id, None).await.unwrap().unwrap().status,
            status
        );
    }
    store.apply_outcomes(&[processed(ids[0])]).await.unwrap();
    let done = store.get_event(ids[0], None).await.unwrap().unwrap();
    assert_eq!((done.status, done.attempts), (EventStatus::Processed, 1));
    assert!(done.processed_at.is_some());
    assert_eq!(
        done.properties_json.as_deref(),
        Some(r#"{"page":"/"}"#),
        "properties are stored as the worker wrote them, byte for byte"
    );
}

async fn two_concurrent_appliers_finish_an_event_exactly_once(store: Arc<dyn EventStore>) {
    let owner = user(&store, "c@example.com").await;
    let ids = insert(
        &store,
        &owner,
        &(0..50)
            .map(|i| event(&format!("c{i}"), "{}"))
            .collect::<Vec<_>>(),
    )
    .await;
    // Both "workers" load the same job, as after a duplicate delivery.
    assert_eq!(store.load_unfinished(&ids).await.unwrap().len(), 50);
    assert_eq!(store.load_unfinished(&ids).await.unwrap().len(), 50);
    let outcomes: Vec<EventOutcome> = ids.iter().map(|id| processed(*id)).collect();
    let (first, second) = tokio::join!(
        store.apply_outcomes(&outcomes),
        store.apply_outcomes(&outcomes)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    let mut finished: Vec<EventId> = first.iter().chain(&second).copied().collect();
    finished.sort();
    assert_eq!(
        finished,
        ids,
        "each event finished exactly once ({} + {})",
        first.len(),
        second.len()
    );
    let stored = store.get_event(ids[0], None).await.unwrap().unwrap();
    assert_eq!(
        stored.attempts, 1,
        "only the applier that won counts an attempt"
    );
    let again = store.apply_outcomes(&[processed(ids[0])]).await.unwrap();
    assert_eq!(again, []);
    assert_eq!(
        store
            .get_event(ids[0], None)
            .await
            .unwrap()
            .unwrap()
            .processed_at,
        stored.processed_at,
        "processed_at never overwritten"
    );
}

async fn final_events_are_never_loaded_again(store: Arc<dyn EventStore>) {
    let owner = user(&store, "f@example.com").await;
    let ids = insert(&store, &owner, &[event("a", "{}"), event("b", "{}")]).await;
    let loaded = store.load_unfinished(&ids).await.unwrap();
    assert_eq!(
        loaded
            .iter()
            .map(|e| (e.id, e.attempts, e.owner_email.as_str()))
            .collect::<Vec<_>>(),
        vec![(ids[0], 0, "f@example.com"), (ids[1], 0, "f@example.com")]
    );
    store.apply_outcomes(&[processed(ids[0])]).await.unwrap();
    store
        .record_retry(&ids[1..], "Processing error: x")
        .await
        .unwrap();
    let again = store.load_unfinished(&ids).await.unwrap();
    assert_eq!(
        again.iter().map(|e| (e.id, e.attempts)).collect::<Vec<_>>(),
        vec![(ids[1], 1)],
        "the processed event is left out; the retrying one is loaded with its attempt"
    );
}

async fn retries_then_failure_follow_the_status_model(store: Arc<dyn EventStore>) {
    let owner = user(&store, "r@example.com").await;
    let ids = insert(&store, &owner, &[event("a", "{}")]).await;
    assert_eq!(
        store
            .mark_failed(&ids, "Processing error: x")
            .await
            .unwrap(),
        0,
        "enqueued cannot fail without a retry first"
    );
    assert_eq!(
        store
            .record_retry(&ids, "Processing error: x")
            .await
            .unwrap(),
        1,
        "a failed attempt on an enqueued event leaves it retrying"
    );
    assert_eq!(
        store
            .record_retry(&ids, "Processing error: pool timed out")
            .await
            .unwrap(),
        1
    );
    let retrying = store.get_event(ids[0], None).await.unwrap().unwrap();
    assert_eq!(
        (retrying.status, retrying.attempts),
        (EventStatus::Retrying, 2),
        "each failed attempt counts"
    );
    assert_eq!(
        retrying.processing_error.as_deref(),
        Some("Processing error: pool timed out")
    );
    assert_eq!(
        store
            .mark_failed(&ids, "Processing error: gave up")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.load_unfinished(&ids).await.unwrap().len(),
        0,
        "failed is final"
    );
    assert_eq!(
        store
            .record_retry(&ids, "Processing error: x")
            .await
            .unwrap(),
        0,
        "a final event takes no more attempts"
    );
}

async fn stale_unfinished_events_are_swept_once_per_cutoff(store: Arc<dyn EventStore>) {
    let owner = user(&store, "w@example.com").await;
    let ids = insert(
        &store,
        &owner,
        &[event("a", "{}"), event("b", "{}"), event("c", "{}")],
    )
    .await;
    store
        .record_retry(&ids[1..2], "Processing error: x")
        .await
        .unwrap();
    store.apply_outcomes(&[processed(ids[2])]).await.unwrap();
    let a_minute_ago = Utc::now() - chrono::Duration::seconds(60);
    let stale = store.requeue_stale(a_minute_ago, None, 100).await.unwrap();
    assert_eq!(stale, StaleEvents::default(), "nothing is stale yet");

    let cutoff = Utc::now();
    let first = store.get_event(ids[0], None).await.unwrap().unwrap();
    let after_first = SweepCursor {
        updated_at: first.updated_at,
        id: ids[0],
    };
    let rest = store
        .requeue_stale(cutoff, Some(after_first), 100)
        .await
        .unwrap();
    assert_eq!(rest.ids, vec![ids[1]], "a round starts after the cursor");

    let swept = store.requeue_stale(cutoff, None, 100).await.unwrap();
    assert_eq!(
        swept.ids,
        vec![ids[0]],
        "enqueued and retrying events, not final ones, each once per cutoff"
    );
    assert_eq!(swept.cursor.map(|c| c.id), Some(ids[0]));
    let again = store.requeue_stale(cutoff, None, 100).await.unwrap();
    assert!(again.ids.is_empty(), "touched events are past the cutoff");
    assert_eq!(store.count_unfinished().await.unwrap(), 2);
}

async fn an_outcome_judged_before_a_counted_failure_changes_nothing(store: Arc<dyn EventStore>) {
    let owner = user(&store, "late@example.com").await;
    let ids = insert(&store, &owner, &[event("late", "{}")]).await;
    // The attempt that loaded the event at 0 attempts timed out; its failure was counted.
    store
        .record_retry(&ids, "Processing error: attempt exceeded its time limit")
        .await
        .unwrap();
    let late = processed(ids[0]);
    assert_eq!(store.apply_outcomes(&[late]).await.unwrap(), []);
    let event = store.get_event(ids[0], None).await.unwrap().unwrap();
    assert_eq!((event.status, event.attempts), (EventStatus::Retrying, 1));
    let current = EventOutcome {
        attempts_before: 1,
        ..processed(ids[0])
    };
    assert_eq!(store.apply_outcomes(&[current]).await.unwrap(), [ids[0]]);
}

async fn time_filters_compare_instants_past_four_digit_years(store: Arc<dyn EventStore>) {
    let owner = user(&store, "years@example.com").await;
    let ids = insert(&store, &owner, &[event("t", "{}")]).await;
    let instant = |text| chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc();
    let listed = |from, until| {
        let filter = EventFilter {
            created_from: Some(instant(from)),
            created_until: Some(instant(until)),
            limit: 10,
            ..EventFilter::default()
        };
        let store = store.clone();
        async move { store.list_events(owner.id, &filter).await.unwrap() }
    };
    // 9999-12-31T23:59:59-05:00 is in the year 10000 in UTC.
    let wide = listed("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00").await;
    assert_eq!(wide.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    let future = listed("9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59-06:00").await;
    assert!(future.is_empty());
}

async fn touching_renews_the_lease_of_unfinished_events_only(store: Arc<dyn EventStore>) {
    let owner = user(&store, "touch@example.com").await;
    let ids = insert(&store, &owner, &[event("a", "{}"), event("b", "{}")]).await;
    store.apply_outcomes(&[processed(ids[1])]).await.unwrap();
    let cutoff = Utc::now();
    assert_eq!(store.touch_unfinished(&ids).await.unwrap(), 1);
    let stale = store.requeue_stale(cutoff, None, 10).await.unwrap();
    assert!(
        stale.ids.is_empty(),
        "the touched event's lease starts again"
    );
    let finished = store.get_event(ids[1], None).await.unwrap().unwrap();
    assert!(
        finished.updated_at < cutoff,
        "a final event is left as it was"
    );
}

async fn a_repeated_message_id_stores_nothing_and_answers_with_the_first_event(
    store: Arc<dyn EventStore>,
) {
    let owner = user(&store, "mid@example.com").await.id;
    let first = insert_as(
        store.as_ref(),
        "task-1",
        owner,
        &[
            event_with_id("a", "m1"),
            event("b", "{}"),
            event_with_id("c", "m1"),
            event_with_id("d", "m2"),
        ],
    )
    .await;
    let new = |event: &InsertedEvent| event.existing_task_id.is_none();
    assert!(new(&first[0]) && new(&first[1]) && new(&first[3]));
    assert_eq!(
        first[2],
        InsertedEvent {
            id: first[0].id,
            existing_task_id: Some("task-1".into())
        },
        "a repeat inside one insert is stored once"
    );
    assert!(
        first[0].id < first[1].id && first[1].id < first[3].id,
        "ids in order"
    );

    let retry = insert_as(
        store.as_ref(),
        "task-2",
        owner,
        &[
            event_with_id("changed body", "m2"),
            event_with_id("e", "m3"),
        ],
    )
    .await;
    assert_eq!(retry[0].id, first[3].id, "the first stored wins");
    assert_eq!(retry[0].existing_task_id.as_deref(), Some("task-1"));
    assert!(new(&retry[1]));
    let stored = store.get_event(first[3].id, None).await.unwrap().unwrap();
    assert_eq!(
        (stored.event_name.as_str(), stored.message_id.as_deref()),
        ("d", Some("m2"))
    );

    let other_owner = user(&store, "other-mid@example.com").await.id;
    let theirs = insert_as(
        store.as_ref(),
        "task-3",
        other_owner,
        &[event_with_id("a", "m1")],
    )
    .await;
    assert!(new(&theirs[0]), "message ids are unique per owner");

    let only_m1 = EventFilter {
        message_id: Some("m1".into()),
        limit: 10,
        ..EventFilter::default()
    };
    let listed = store.list_events(owner, &only_m1).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![first[0].id]
    );
    assert_eq!(
        store.count_unfinished().await.unwrap(),
        5,
        "4 + 0 + 1 events stored"
    );
}

async fn unicode_and_one_mebibyte_payloads_round_trip_byte_for_byte(store: Arc<dyn EventStore>) {
    let owner = user(&store, "u@example.com").await;
    let unicode =
        r#"{ "emoji": "😀 é ü 中文", "escaped": "\u00e9\n\"q\"", "nul": "a\u0000b",  "n": 1.50 }"#;
    let big = format!(r#"{{"data": "{}"}}"#, "x".repeat(1024 * 1024 + 100 * 1024));
    let ids = insert(&store, &owner, &[event("u", unicode), event("big", &big)]).await;
    let stored = store
        .get_event(ids[0], Some(owner.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.payload_json, unicode);
    let loaded = store.load_unfinished(&ids[1..]).await.unwrap();
    assert_eq!(loaded[0].payload_json, big);
}

async fn operations_views_count_and_list_failures(store: Arc<dyn EventStore>) {
    store.ping().await.unwrap();
    let owner = user(&store, "o@example.com").await;
    let ids = insert(
        &store,
        &owner,
        &[event("a", "{}"), event("b", "[1]"), event("c", "{}")],
    )
    .await;
    let rejected = EventOutcome {
        id: ids[1],
        status: EventStatus::ValidationError,
        properties_json: None,
        error: Some("Payload must be dict, got list".into()),
        decided_at: Utc::now(),
        attempts_before: 0,
    };
    store
        .apply_outcomes(&[processed(ids[0]), rejected])
        .await
        .unwrap();

    assert_eq!(
        status_counts(store.as_ref()).await,
        vec![
            (EventStatus::Enqueued, 1),
            (EventStatus::Processed, 1),
            (EventStatus::ValidationError, 1)
        ]
    );
    let failures = store.recent_failures(10).await.unwrap();
    assert_eq!(
        failures
            .iter()
            .map(|e| e.processing_error.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("Payload must be dict, got list")]
    );
    assert_eq!(activity_totals(store.as_ref()).await, (3, 1, 1));
    assert_eq!(store.events_for_task("task-1").await.unwrap().len(), 3);
    let more = insert(&store, &owner, &[event("d", "{}")]).await;
    let task = store.events_for_task("task-1").await.unwrap();
    assert_eq!(
        task.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids.as_slice(), more.as_slice()].concat(),
        "a second insert under the same task id joins the task"
    );
    assert!(
        store
            .events_for_task("no-such-task")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_postgres_store_pointed_at_a_stopped_server_reports_an_outage() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{closed_port}/postgres");
    let error = pulseboard_store::connect(&url, 1, false)
        .await
        .err()
        .expect("no server there");
    assert!(error.is_retryable(), "{error:?} should count as an outage");
}

#[tokio::test]
async fn a_sqlite_store_on_an_unwritable_path_is_not_an_outage() {
    let error = pulseboard_store::connect("sqlite:///proc/no/such/dir/x.db", 1, false)
        .await
        .err()
        .expect("cannot open");
    assert!(matches!(error, StoreError::Database(_)), "{error:?}");
}

/// The same message ids sent at once through two pools (two server processes) over one
/// database: the unique index decides, each id is stored once and every answer names it.
async fn concurrent_inserts_through_two_pools_store_each_message_id_once(url: &str) {
    let pools: Vec<Arc<dyn EventStore>> = vec![
        pulseboard_store::connect(url, 4, true).await.unwrap(),
        pulseboard_store::connect(url, 4, false).await.unwrap(),
    ];
    let owner = user(&pools[0], "race@example.com").await.id;
    let senders = (0..16).map(|sender| {
        let store = pools[sender % 2].clone();
        tokio::spawn(async move {
            // Each sender sends the same ten ids, in its own order.
            let events: Vec<NewEvent> = (0..10)
                .map(|n| event_with_id("race", &format!("k{}", (n + sender) % 10)))
                .collect();
            let inserted =
                insert_as(store.as_ref(), &format!("task-{sender}"), owner, &events).await;
            events
                .iter()
                .map(|e| e.message_id().unwrap().to_owned())
                .zip(inserted)
                .collect::<Vec<_>>()
        })
    });
    let answers: Vec<(String, InsertedEvent)> = futures_join(senders).await;
    let mut ids_per_key = std::collections::HashMap::new();
    for (key, answer) in &answers {
        ids_per_key
            .entry(key.clone())
            .or_insert_with(std::collections::BTreeSet::new)
            .insert(answer.id);
    }
    assert_eq!(ids_per_key.len(), 10);
    assert!(
        ids_per_key.values().all(|ids| ids.len() == 1),
        "one event per id: {ids_per_key:?}"
    );
    let stored_new = answers
        .iter()
        .filter(|(_, answer)| !answer.is_duplicate())
        .count();
    assert_eq!(stored_new, 10, "exactly one sender stored each id");
    assert_eq!(pools[1].count_unfinished().await.unwrap(), 10);
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Vec<T>>>,
) -> Vec<T> {
    let mut all = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        all.extend(handle.await.expect("sender task"));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_inserts_through_two_pools_store_each_message_id_once() {
    concurrent_inserts_through_two_pools_store_each_message_id_once(&fresh_postgres_url().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_inserts_through_two_pools_store_each_message_id_once() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_inserts_through_two_pools_store_each_message_id_once(&fresh_sqlite_url(dir.path()))
        .await;
}

fn sdk_event(name: &str, message_id: &str) -> NewEvent {
    NewEvent::parse(RawEventFields {
        event_name: Some(name),
        event_type: Some("track"),
        payload_json: Some(r#"{"plan":"pro"}"#),
        message_id: Some(message_id),
        user_id: Some("user-7"),
        anonymous_id: Some("anon-ü"),
        occurred_at: Some("2026-11-30T10:00:00.250Z".parse().expect("time")),
        context_json: Some(r#"{"library":{"name":"analytics-python"}}"#),
        ..Default::default()
    })
    .expect("valid event")
}

async fn sdk_fields_round_trip_and_native_events_leave_them_empty(store: Arc<dyn EventStore>) {
    let owner = user(&store, "sdk@example.com").await;
    // One native and one SDK event in the same insert (the micro-batcher mixes them).
    let ids = insert(
        &store,
        &owner,
        &[event("native", "{}"), sdk_event("sdk", "m-1")],
    )
    .await;
    let native = store.get_event(ids[0], None).await.unwrap().unwrap();
    assert_eq!(
        (
            native.client_user_id,
            native.anonymous_id,
            native.occurred_at,
            native.context_json
        ),
        (None, None, None, None)
    );
    let sdk = store.get_event(ids[1], None).await.unwrap().unwrap();
    assert_eq!(sdk.client_user_id.as_deref(), Some("user-7"));
    assert_eq!(sdk.anonymous_id.as_deref(), Some("anon-ü"));
    assert_eq!(
        sdk.occurred_at,
        Some("2026-11-30T10:00:00.250Z".parse().unwrap())
    );
    assert_eq!(
        sdk.context_json.as_deref(),
        Some(r#"{"library":{"name":"analytics-python"}}"#)
    );
    assert_eq!(sdk.status, EventStatus::Enqueued);
    // A repeat of the SDK event through the full insert path is still deduplicated.
    let again = insert_as(store.as_ref(), "t2", owner.id, &[sdk_event("sdk", "m-1")]).await;
    assert_eq!(again[0].id, ids[1]);
    assert!(again[0].is_duplicate());
}

async fn rejected_events_are_stored_judged_and_never_loaded_for_processing(
    store: Arc<dyn EventStore>,
) {
    let owner = user(&store, "rejected@example.com").await;
    let rejected =
        event_with_id("unknown", "bad-1").rejected("track message without an event name");
    let ids = insert(&store, &owner, &[event("good", "{}"), rejected]).await;
    let stored = store.get_event(ids[1], None).await.unwrap().unwrap();
    assert_eq!(stored.status, EventStatus::ValidationError);
    assert_eq!(
        stored.processing_error.as_deref(),
        Some("track message without an event name")
    );
    assert_eq!(stored.attempts, 0);
    let loaded = store.load_unfinished(&ids).await.unwrap();
    assert_eq!(
        loaded.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    // Its message id still deduplicates a client's retry.
    let retry = event_with_id("unknown", "bad-1").rejected("again");
    let again = insert_as(store.as_ref(), "t3", owner.id, &[retry]).await;
    assert_eq!(again[0].id, ids[1]);
}

async fn write_keys_are_found_by_hash_until_revoked_and_count_their_use(
    store: Arc<dyn EventStore>,
) {
    let alice = user(&store, "keys-a@example.com").await;
    let bob = user(&store, "keys-b@example.com").await;
    let web = store
        .create_write_key(alice.id, "web", "hash-web")
        .await
        .unwrap();
    let ios = store
        .create_write_key(alice.id, "ios", "hash-ios")
        .await
        .unwrap();
    store
        .create_write_key(bob.id, "bob", "hash-bob")
        .await
        .unwrap();
    assert_eq!(
        (web.name.as_str(), web.owner, web.event_count),
        ("web", alice.id, 0)
    );
    assert_eq!(web.last_used_at, None);

    let found = store.find_write_key("hash-web").await.unwrap().unwrap();
    assert_eq!(found, web);
    assert!(
        store
            .find_write_key("no-such-hash")
            .await
            .unwrap()
            .is_none()
    );

    let alices = store.list_write_keys(Some(alice.id), 100).await.unwrap();
    assert_eq!(
        alices.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![web.id, ios.id]
    );
    assert_eq!(store.list_write_keys(None, 100).await.unwrap().len(), 3);
    assert_eq!(store.list_write_keys(None, 2).await.unwrap().len(), 2);

    let early = "2026-11-30T10:00:00Z".parse().unwrap();
    let late = "2026-11-30T11:00:00Z".parse().unwrap();
    let uses = [
        WriteKeyUse {
            id: web.id,
            events: 5,
            at: late,
        },
        WriteKeyUse {
            id: ios.id,
            events: 1,
            at: early,
        },
    ];
    store.record_write_key_use(&uses).await.unwrap();
    // An older flush never moves the last use back.
    let older = [WriteKeyUse {
        id: web.id,
        events: 2,
        at: early,
    }];
    store.record_write_key_use(&older).await.unwrap();
    let web_now = store.find_write_key("hash-web").await.unwrap().unwrap();
    assert_eq!((web_now.event_count, web_now.last_used_at), (7, Some(late)));

    // Only the owner revokes; revoking twice is harmless.
    assert!(!store.revoke_write_key(bob.id, web.id).await.unwrap());
    assert!(store.revoke_write_key(alice.id, web.id).await.unwrap());
    assert!(store.revoke_write_key(alice.id, web.id).await.unwrap());
    assert!(
        !store
            .revoke_write_key(alice.id, WriteKeyId(999_999))
            .await
            .unwrap()
    );
    assert!(store.find_write_key("hash-web").await.unwrap().is_none());
    let listed = store.list_write_keys(Some(alice.id), 100).await.unwrap();
    assert!(listed[0].revoked_at.is_some() && listed[1].revoked_at.is_none());
}

async fn login_attempts_are_counted_per_key_newest_first_and_forgotten(store: Arc<dyn EventStore>) {
    let at = |minute: u32| -> chrono::DateTime<chrono::Utc> {
        format!("2026-11-30T10:{minute:02}:00Z").parse().unwrap()
    };
    let mut recorded = Vec::new();
    for minute in [1, 2, 3] {
        let ids = store
            .record_login_attempt(&["account:a@example.com", "address:10.0.0.1"], at(minute))
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        recorded.push(ids);
    }
    store
        .record_login_attempt(&["account:b@example.com"], at(4))
        .await
        .unwrap();

    let account_a = store
        .recent_login_attempts("account:a@example.com", at(2), 10)
        .await
        .unwrap();
    assert_eq!(
        account_a,
        vec![at(3), at(2)],
        "newest first, from `since` on"
    );
    let address = store
        .recent_login_attempts("address:10.0.0.1", at(0), 2)
        .await
        .unwrap();
    assert_eq!(address, vec![at(3), at(2)], "at most `limit`");

    // A successful login forgets its own records, under both keys, and nothing else.
    store.forget_login_attempts(&recorded[2]).await.unwrap();
    for key in ["account:a@example.com", "address:10.0.0.1"] {
        let left = store.recent_login_attempts(key, at(0), 10).await.unwrap();
        assert_eq!(left, vec![at(2), at(1)], "{key}");
    }

    // The upkeep forgets old records.
    let forgotten = store.forget_login_attempts_before(at(2)).await.unwrap();
    assert_eq!(forgotten, 2);
    let left = store
        .recent_login_attempts("account:a@example.com", at(0), 10)
        .await
        .unwrap();
    assert_eq!(left, vec![at(2)]);
    let other = store
        .recent_login_attempts("account:b@example.com", at(0), 10)
        .await
        .unwrap();
    assert_eq!(other, vec![at(4)]);
}

async fn replay_moves_only_the_owners_failures_back_to_enqueued(store: Arc<dyn EventStore>) {
    let owner = user(&store, "replay@example.com").await;
    let other = user(&store, "replay-other@example.com").await;
    let names = ["processed", "rejected", "failed", "waiting", "failed-2"];
    let ids = insert(&store, &owner, &names.map(|name| event(name, "{}"))).await;
    let others = insert(&store, &other, &[event("other", "{}")]).await;
    let judged = |id, status| EventOutcome {
        id,
        status,
        properties_json: (status == EventStatus::Processed).then(|| "{}".to_owned()),
        error: (status == EventStatus::ValidationError).then(|| "Payload must be dict".to_owned()),
        decided_at: Utc::now(),
        attempts_before: 0,
    };
    store
        .apply_outcomes(&[
            judged(ids[0], EventStatus::Processed),
            judged(ids[1], EventStatus::ValidationError),
        ])
        .await
        .unwrap();
    for failing in [ids[2], ids[4], others[0]] {
        store
            .record_retry(&[failing], "Processing error: down")
            .await
            .unwrap();
        store
            .mark_failed(&[failing], "Processing error: gave up")
            .await
            .unwrap();
    }

    let by_ids = ReplaySelection {
        ids: Some(vec![ids[0], ids[1], ids[3], others[0]]),
        ..Default::default()
    };
    assert_eq!(
        store
            .replay_events(Some(owner.id), &by_ids, 100)
            .await
            .unwrap(),
        vec![ids[1]],
        "not the processed, the waiting, or another owner's event"
    );
    let replayed = store.get_event(ids[1], None).await.unwrap().unwrap();
    assert_eq!(
        (
            replayed.status,
            replayed.processing_error,
            replayed.attempts
        ),
        (EventStatus::Enqueued, None, 0),
        "back to enqueued, error cleared, a fresh retry budget"
    );
    assert_eq!(store.load_unfinished(&[ids[1]]).await.unwrap().len(), 1);

    let earlier = ReplaySelection {
        status: Some(EventStatus::Failed),
        created_until: Some(Utc::now() - chrono::Duration::hours(1)),
        ..Default::default()
    };
    assert!(
        store
            .replay_events(Some(owner.id), &earlier, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let processed_only = ReplaySelection {
        status: Some(EventStatus::Processed),
        ..Default::default()
    };
    assert!(
        store
            .replay_events(Some(owner.id), &processed_only, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let failed = ReplaySelection {
        status: Some(EventStatus::Failed),
        ..Default::default()
    };
    assert_eq!(
        store
            .replay_events(Some(owner.id), &failed, 1)
            .await
            .unwrap(),
        vec![ids[2]],
        "limit, lowest id first"
    );
    assert_eq!(
        store
            .replay_events(Some(owner.id), &failed, 100)
            .await
            .unwrap(),
        vec![ids[4]]
    );
    assert!(
        store
            .replay_events(Some(owner.id), &failed, 100)
            .await
            .unwrap()
            .is_empty(),
        "a second replay finds nothing"
    );
    let other_failed = store.get_event(others[0], None).await.unwrap().unwrap();
    assert_eq!(other_failed.status, EventStatus::Failed);
    // The operator's replay (no owner) takes every user's.
    let everyone = store.replay_events(None, &failed, 100).await.unwrap();
    assert_eq!(everyone, vec![others[0]]);
}

/// A message id is unique for as long as its event exists, and no longer.
async fn a_purged_events_message_id_can_be_used_again(store: Arc<dyn EventStore>) {
    let owner = user(&store, "purged-id@example.com").await.id;
    let kept_id = event_with_id("kept", "m-kept");
    let first = insert_as(
        store.as_ref(),
        "task-old",
        owner,
        &[event_with_id("old", "m-reused"), kept_id.clone()],
    )
    .await;
    store
        .apply_outcomes(&[processed(first[0].id)])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let round = store
        .purge_finished_before(Utc::now(), None, 100)
        .await
        .unwrap();
    assert_eq!(
        round.deleted, 1,
        "the processed event goes; the unfinished one stays"
    );

    let again = insert_as(
        store.as_ref(),
        "task-new",
        owner,
        &[event_with_id("new", "m-reused"), kept_id],
    )
    .await;
    assert_eq!(
        again[0].existing_task_id, None,
        "the purged event's id is free again"
    );
    assert_ne!(again[0].id, first[0].id);
    assert_eq!(
        again[1].existing_task_id.as_deref(),
        Some("task-old"),
        "the kept event's id is still taken"
    );
    let filter = EventFilter {
        message_id: Some("m-reused".into()),
        limit: 10,
        ..EventFilter::default()
    };
    let listed = store.list_events(owner, &filter).await.unwrap();
    assert_eq!(
        listed.iter().map(|event| event.id).collect::<Vec<_>>(),
        [again[0].id],
        "the listing finds the new event by its message id"
    );
}

async fn retention_purges_only_final_events_older_than_the_cutoff(store: Arc<dyn EventStore>) {
    let owner = user(&store, "retention@example.com").await;
    let old = insert(
        &store,
        &owner,
        &["p", "v", "f", "waiting", "p2"].map(|n| event(n, "{}")),
    )
    .await;
    let done = |id, status| EventOutcome {
        id,
        status,
        properties_json: Some("{}".to_owned()),
        error: None,
        decided_at: Utc::now(),
        attempts_before: 0,
    };
    store
        .apply_outcomes(&[
            done(old[0], EventStatus::Processed),
            done(old[1], EventStatus::ValidationError),
            done(old[4], EventStatus::Processed),
        ])
        .await
        .unwrap();
    store.record_retry(&[old[2]], "down").await.unwrap();
    store.mark_failed(&[old[2]], "gave up").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let recent = insert(&store, &owner, &[event("recent", "{}")]).await;
    store
        .apply_outcomes(&[done(recent[0], EventStatus::Processed)])
        .await
        .unwrap();

    // Rounds of two, as a purge runs them: each continues from the last one's cursor.
    let (mut after, mut deleted, mut rounds) = (None, 0, 0);
    loop {
        let round = store.purge_finished_before(cutoff, after, 2).await.unwrap();
        deleted += round.deleted;
        rounds += 1;
        match round.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(rounds < 10, "the purge ends");
    }
    assert_eq!(deleted, 4, "the old final events");
    for gone in [old[0], old[1], old[2], old[4]] {
        assert!(store.get_event(gone, None).await.unwrap().is_none());
    }
    assert!(
        store.get_event(old[3], None).await.unwrap().is_some(),
        "unfinished: kept"
    );
    assert!(
        store.get_event(recent[0], None).await.unwrap().is_some(),
        "newer: kept"
    );
    let task = store
        .get_event(old[3], None)
        .await
        .unwrap()
        .unwrap()
        .task_id;
    let left: Vec<EventId> = store
        .events_for_task(&task)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    // (The `insert` helper puts every event under one task id.)
    assert_eq!(
        left,
        vec![old[3], recent[0]],
        "the task's lookup keeps only what is left"
    );
    let again = store
        .purge_finished_before(cutoff, None, 100)
        .await
        .unwrap();
    assert_eq!(
        again,
        pulseboard_store::PurgeRound {
            deleted: 0,
            next: None
        }
    );
}

/// Events per status as the rows say, read through the owner's listing.
async fn counted_from_rows(store: &Arc<dyn EventStore>, owner: &User) -> Vec<(EventStatus, i64)> {
    let filter = EventFilter {
        limit: 1_000,
        ..Default::default()
    };
    let mut counts = std::collections::BTreeMap::new();
    for event in store.list_events(owner.id, &filter).await.unwrap() {
        *counts.entry(event.status).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

async fn the_dashboard_counters_agree_with_the_rows_after_every_kind_of_write(
    store: Arc<dyn EventStore>,
) {
    let owner = user(&store, "counters@example.com").await;
    let check = |step: &'static str| {
        let store = store.clone();
        let owner = owner.clone();
        async move {
            assert_eq!(
                status_counts(store.as_ref()).await,
                counted_from_rows(&store, &owner).await,
                "after {step}"
            );
        }
    };
    // Concurrent inserts, from as many connections as the pool gives.
    let inserters: Vec<_> = (0..8)
        .map(|n| {
            let (store, owner) = (store.clone(), owner.clone());
            tokio::spawn(async move {
                let events: Vec<_> = (0..10).map(|i| event(&format!("e{n}-{i}"), "{}")).collect();
                insert(&store, &owner, &events).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for inserter in inserters {
        ids.extend(inserter.await.unwrap());
    }
    check("concurrent inserts").await;
    insert(
        &store,
        &owner,
        &[event("bad", "{}").rejected("no event name")],
    )
    .await;
    insert(&store, &owner, &[event_with_id("once", "m-1")]).await;
    insert(&store, &owner, &[event_with_id("once again", "m-1")]).await;
    check("a rejected insert and a repeated message id").await;

    store
        .apply_outcomes(&[processed(ids[0]), processed(ids[1])])
        .await
        .unwrap();
    let rejected = EventOutcome {
        status: EventStatus::ValidationError,
        error: Some("Payload must be dict".into()),
        ..processed(ids[2])
    };
    store.apply_outcomes(&[rejected]).await.unwrap();
    store.record_retry(&ids[3..5], "down").await.unwrap();
    store.mark_failed(&ids[3..4], "gave up").await.unwrap();
    store.touch_unfinished(&ids[5..8]).await.unwrap();
    check("outcomes, retries, a failure and lease touches").await;
    assert_eq!(activity_totals(store.as_ref()).await, (82, 2, 3));

    let replay = ReplaySelection {
        ids: Some(vec![ids[2], ids[3]]),
        ..Default::default()
    };
    store.replay_events(None, &replay, 10).await.unwrap();
    check("a replay").await;
    // A replay starts the event's attempts over: this one is the first of its new run.
    store.apply_outcomes(&[processed(ids[2])]).await.unwrap();
    assert_eq!(
        activity_totals(store.as_ref()).await,
        (82, 3, 3),
        "a replayed event processed again counts again"
    );

    store.fold_counters().await.unwrap();
    check("folding the counters").await;
    let future = Utc::now() + chrono::Duration::minutes(1);
    let mut after = None;
    loop {
        let round = store
            .purge_finished_before(future, after, 10)
            .await
            .unwrap();
        match round.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    check("a retention purge").await;
    assert_eq!(
        activity_totals(store.as_ref()).await,
        (82, 3, 3),
        "purged events stay in the activity of their minute"
    );
}

/// A new installation's events table grows from empty faster than autovacuum analyzes it: the
/// store analyzes it once past 1,000 rows, so the plans cached while it was empty are redone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_analyzes_the_events_table_as_it_outgrows_the_planners_statistics() {
    let store = postgres().await.store;
    assert!(!store.refresh_planner_statistics().await.unwrap(), "empty");
    let owner = user(&store, "planner@example.com").await;
    let events: Vec<NewEvent> = (0..1_500).map(|i| event(&format!("e{i}"), "{}")).collect();
    insert(&store, &owner, &events).await;
    // The statistics collector publishes the new rows within a second or so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !store.refresh_planner_statistics().await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "1,500 new rows never led to an analyze"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        !store.refresh_planner_statistics().await.unwrap(),
        "analyzed once, then left to autovacuum"
    );
}

#[tokio::test]
async fn sqlite_needs_no_planner_statistics() {
    let store = sqlite().await.store;
    assert!(!store.refresh_planner_statistics().await.unwrap());
}
