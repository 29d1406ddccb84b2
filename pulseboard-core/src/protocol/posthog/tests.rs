use serde_json::json;

use super::*;
use crate::NewEvent;

#[track_caller]
fn mapped(message: Value) -> NewEvent {
    to_event(&message).unwrap_or_else(|rejected| panic!("rejected: {}", rejected.reason()))
}

#[track_caller]
fn rejected(message: Value) -> (String, NewEvent) {
    match to_event(&message) {
        Ok(event) => panic!("accepted as {event:?}"),
        Err(rejected) => (rejected.reason().to_owned(), rejected.into_event()),
    }
}

#[test]
fn every_body_shape_gives_its_events() {
    let one = json!({"event": "e"});
    assert_eq!(
        messages(json!([one, 2])).unwrap(),
        vec![one.clone(), json!(2)]
    );
    assert_eq!(messages(one.clone()).unwrap(), vec![one.clone()]);
    let batch = json!({"api_key": "k", "token": "t", "sent_at": "now", "historical_migration": false, "batch": [one]});
    assert_eq!(
        messages(batch).unwrap(),
        vec![json!({"event": "e", "sent_at": "now", "historical_migration": false})]
    );
    assert_eq!(
        messages(json!({"data": r#"{"event": "e"}"#})).unwrap(),
        vec![one.clone()]
    );
    assert_eq!(
        messages(json!({"data": "eyJldmVudCI6ImUifQ=="})).unwrap(),
        vec![one.clone()]
    );
    assert_eq!(
        messages(json!({"data": [{"event": "e"}]})).unwrap(),
        vec![one]
    );
}

#[test]
fn a_body_that_is_not_events_is_a_body_error() {
    assert_eq!(messages(json!(1)), Err(BodyError::NotEvents));
    assert_eq!(
        messages(json!({"batch": {"event": "e"}})),
        Err(BodyError::NotEvents)
    );
    assert_eq!(
        messages(json!({"data": "%%%"})),
        Err(BodyError::UnreadableData)
    );
    assert_eq!(
        messages(json!({"data": "[1,"})),
        Err(BodyError::UnreadableData)
    );
    assert_eq!(messages(json!({"data": 5})), Err(BodyError::UnreadableData));
    // The data is decoded once: data inside data is one (nameless) event.
    let nested = json!({"data": {"data": "W10="}});
    assert_eq!(messages(nested).unwrap(), vec![json!({"data": "W10="})]);
}

#[test]
fn the_key_is_the_bodys_else_the_first_events() {
    assert_eq!(
        body_api_key(&json!({"api_key": "a", "token": "t"})),
        Some("a")
    );
    assert_eq!(
        body_api_key(&json!({"api_key": "", "token": "t"})),
        Some("t")
    );
    assert_eq!(
        body_api_key(&json!({"batch": [{"token": "t"}, {"api_key": "b"}]})),
        Some("t")
    );
    assert_eq!(
        body_api_key(&json!([{"properties": {"token": "p"}}])),
        Some("p")
    );
    assert_eq!(
        body_api_key(&json!({"event": "e", "properties": {"token": "p"}})),
        Some("p")
    );
    assert_eq!(body_api_key(&json!({"event": "e", "api_key": 5})), None);
    assert_eq!(body_api_key(&json!({"data": "…"})), None);
    assert_eq!(
        messages_api_key(&[json!({"properties": {"token": "p"}})]),
        Some("p")
    );
    assert_eq!(messages_api_key(&[]), None);
}

#[test]
fn the_project_key_is_never_stored() {
    let event = mapped(
        json!({"event": "e", "api_key": "k", "token": "t", "properties": {"token": "p", "a": 1}}),
    );
    assert_eq!(
        (event.payload_json(), event.context_json()),
        (r#"{"a":1}"#, None)
    );
    let (_, record) =
        rejected(json!({"event": 1, "api_key": "k", "token": "t", "properties": {"token": "p"}}));
    assert_eq!(record.payload_json(), r#"{"event":1,"properties":{}}"#);
}

#[test]
fn the_user_id_is_distinct_id_else_the_properties_one() {
    let event =
        mapped(json!({"event": "e", "distinct_id": "top", "properties": {"distinct_id": "inner"}}));
    assert_eq!(event.user_id(), Some("top"));
    let event =
        mapped(json!({"event": "e", "distinct_id": null, "properties": {"distinct_id": 12}}));
    assert_eq!(event.user_id(), Some("12"));
    let (reason, _) =
        rejected(json!({"event": "e", "properties": {"distinct_id": "x".repeat(256)}}));
    assert_eq!(
        reason,
        "properties.distinct_id must be at most 255 characters"
    );
    let (reason, _) = rejected(json!({"event": "e", "distinct_id": true}));
    assert_eq!(reason, "distinct_id must be a string");
}

#[test]
fn ids_session_and_timestamp_are_read_and_an_unread_timestamp_is_kept() {
    let event = mapped(
        json!({"event": "e", "uuid": "u", "timestamp": "soon", "offset": 5,
        "properties": {"$session_id": 99}}),
    );
    assert_eq!(
        (event.message_id(), event.session_id(), event.occurred_at()),
        (Some("u"), Some("99"), None)
    );
    assert_eq!(
        event.context_json(),
        Some(r#"{"offset":5,"timestamp":"soon"}"#)
    );
    assert_eq!(event.payload_json(), r#"{"$session_id":99}"#);
    let (reason, record) =
        rejected(json!({"event": "e", "uuid": "u".repeat(256), "distinct_id": "d"}));
    assert_eq!(reason, "uuid must be at most 255 characters");
    assert_eq!(
        (record.event_name(), record.user_id(), record.message_id()),
        ("e", Some("d"), None)
    );
}

#[test]
fn messages_without_a_name_or_not_objects_are_rejected_as_capture() {
    let (reason, record) = rejected(json!({"uuid": "u"}));
    assert_eq!(reason, "capture message without an event name");
    assert_eq!(
        (record.event_name(), record.event_type()),
        ("unknown", "capture")
    );
    let (reason, record) = rejected(json!("$pageview"));
    assert_eq!(reason, "message is not a JSON object");
    assert_eq!(record.payload_json(), r#""$pageview""#);
    let event = mapped(json!({"event": "e", "properties": "text"}));
    assert_eq!(event.payload_json(), r#""text""#);
}
