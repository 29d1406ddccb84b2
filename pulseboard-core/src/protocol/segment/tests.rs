use serde_json::{Value, json};

use super::*;
use crate::NewEvent;

/// `message` mapped as a route reads it: from its JSON text.
fn map(message: &Value, route_type: Option<&str>) -> Mapped {
    let text = message.to_string();
    to_event(&Message::parse(&text).unwrap(), route_type)
}

#[track_caller]
fn mapped(message: Value) -> NewEvent {
    map(&message, None).unwrap_or_else(|rejected| panic!("rejected: {}", rejected.reason()))
}

#[track_caller]
fn rejected(message: Value, route_type: Option<&str>) -> (String, NewEvent) {
    match map(&message, route_type) {
        Ok(event) => panic!("accepted as {event:?}"),
        Err(rejected) => (rejected.reason().to_owned(), rejected.into_event()),
    }
}

/// The events of a `/v1/batch` body, rejected messages as their records.
fn batch_events(body: &str) -> Vec<NewEvent> {
    let body = parse(body, None).unwrap();
    body.messages()
        .iter()
        .map(|message| to_event(message, None).unwrap_or_else(|rejected| rejected.into_event()))
        .collect()
}

#[test]
fn a_batch_shares_its_envelope_fields_but_not_the_key_or_per_message_fields() {
    let body = json!({
        "writeKey": "wk", "sentAt": "2026-01-31T12:00:01Z", "timestamp": "2026-01-31T12:00:01Z",
        "batch": [{"type": "track", "event": "a"}, {"type": "track", "event": "b", "sentAt": "own"}, 7],
    });
    let events = batch_events(&body.to_string());
    assert_eq!(
        events[0].context_json(),
        Some(r#"{"sentAt":"2026-01-31T12:00:01Z"}"#)
    );
    assert_eq!(events[0].occurred_at(), None);
    assert_eq!(events[1].context_json(), Some(r#"{"sentAt":"own"}"#));
    assert_eq!(events[2].rejection(), Some("message is not a JSON object"));
    assert_eq!(events[2].payload_json(), "7");
}

#[test]
fn a_body_that_is_not_the_envelope_is_a_body_error() {
    let error = |body: &str, route_type| parse(body, route_type).unwrap_err();
    assert_eq!(error(r#"{"batch": {}}"#, None), BodyError::NoBatch);
    assert_eq!(error(r#"{"events": []}"#, None), BodyError::NoBatch);
    assert_eq!(error(r#""x""#, None), BodyError::NoBatch);
    assert_eq!(
        error(r#"[{"type": "track"}]"#, Some("track")),
        BodyError::NotAMessage
    );
    assert!(matches!(
        error("{\"batch\": [", None),
        BodyError::NotJson(_)
    ));
    assert!(matches!(
        error("{} {}", Some("track")),
        BodyError::NotJson(_)
    ));
    assert!(
        parse(r#"{"batch": []}"#, None)
            .unwrap()
            .messages()
            .is_empty()
    );
    let single = parse(r#"{"event": "e"}"#, Some("track")).unwrap();
    assert_eq!(single.messages().len(), 1);
}

#[test]
fn the_write_key_is_read_only_when_a_non_empty_string() {
    let key = |body: &str, route_type| {
        parse(body, route_type)
            .unwrap()
            .write_key()
            .map(str::to_owned)
    };
    assert_eq!(
        key(r#"{"writeKey": "wk", "batch": []}"#, None).as_deref(),
        Some("wk")
    );
    assert_eq!(
        key(r#"{"writeKey": "w\"k"}"#, Some("track")).as_deref(),
        Some("w\"k")
    );
    assert_eq!(key(r#"{"writeKey": "", "batch": []}"#, None), None);
    assert_eq!(key(r#"{"writeKey": 5, "batch": []}"#, None), None);
}

#[test]
fn a_message_is_read_as_a_value_would_be_but_copied_as_sent() {
    // A repeated key keeps its last value; members are written in key order, values as sent.
    let text = r#"{"type": "track", "event": "first", "event": "last", "userId": "u\"1",
        "properties": { "b": 1.50, "a": [ ] }, "z": true, "context": {"sessionId": "s", "sessionId": 9}}"#;
    let event = to_event(&Message::parse(text).unwrap(), None).unwrap();
    assert_eq!(
        (event.event_name(), event.user_id()),
        ("last", Some("u\"1"))
    );
    assert_eq!(event.payload_json(), r#"{ "b": 1.50, "a": [ ] }"#);
    assert_eq!(event.session_id(), Some("9"));
    assert_eq!(
        event.context_json(),
        Some(r#"{"context":{"sessionId": "s", "sessionId": 9},"z":true}"#)
    );
}

#[test]
fn text_that_is_not_unicode_is_refused_and_never_stored() {
    let text = r#"{"type": "track", "event": "e", "messageId": "m\ud800", "userId": "u"}"#;
    let rejected = to_event(&Message::parse(text).unwrap(), None).unwrap_err();
    assert_eq!(
        rejected.reason(),
        "messageId contains a lone UTF-16 surrogate escape"
    );
    let record = rejected.into_event();
    assert_eq!((record.user_id(), record.message_id()), (Some("u"), None));
    assert_eq!(record.payload_json(), "{}");

    // Inside `properties` it refuses only its own message; the batch's others are stored.
    let body = r#"{"batch": [{"type": "track", "event": "bad", "messageId": "m-1",
        "properties": {"a": "\ud800"}}, {"type": "track", "event": "good"}]}"#;
    let events = batch_events(body);
    assert_eq!(
        events[0].rejection(),
        Some("properties contains a lone UTF-16 surrogate escape")
    );
    assert_eq!(
        (events[0].message_id(), events[0].payload_json()),
        (Some("m-1"), "{}")
    );
    assert_eq!(
        (events[1].event_name(), events[1].rejection()),
        ("good", None)
    );

    // A key that is not Unicode makes the whole body unreadable, as any strict JSON reader.
    let text = r#"{"batch": [{"type": "track", "\udc00": 1}]}"#;
    assert!(matches!(parse(text, None), Err(BodyError::NotJson(_))));
}

#[test]
fn the_message_type_wins_over_the_route_and_is_read_in_any_case() {
    let event = map(&json!({"type": "Identify", "userId": "u"}), Some("track")).unwrap();
    assert_eq!(
        (event.event_name(), event.event_type()),
        ("identify", "identify")
    );
    let event = map(&json!({"event": "e"}), Some("track")).unwrap();
    assert_eq!(event.event_type(), "track");
}

#[test]
fn a_message_without_a_known_type_is_rejected_with_its_ids_kept() {
    let (reason, record) = rejected(json!({"event": "e", "messageId": "m", "userId": 7}), None);
    assert_eq!(reason, "message without a type");
    assert_eq!(
        (record.event_name(), record.event_type()),
        ("unknown", "unknown")
    );
    assert_eq!(
        (record.message_id(), record.user_id()),
        (Some("m"), Some("7"))
    );
    let (reason, _) = rejected(json!({"type": ["track"]}), None);
    assert_eq!(reason, "type must be a string");
    let (reason, _) = rejected(json!({"type": format!("x\0{}", "y".repeat(100))}), None);
    assert_eq!(
        reason,
        format!("unknown message type \"x\\0{}\"…", "y".repeat(38))
    );
}

#[test]
fn a_track_without_an_event_name_is_stored_whole_without_its_write_key() {
    for event in [json!(null), json!(""), json!("  ")] {
        let message = json!({"type": "track", "event": event, "messageId": "m", "writeKey": "wk"});
        let (reason, record) = rejected(message.clone(), None);
        assert_eq!(reason, "track message without an event name");
        assert_eq!(
            (record.event_name(), record.event_type()),
            ("unknown", "track")
        );
        assert_eq!(record.rejection(), Some(reason.as_str()));
        let mut expected = message;
        expected.as_object_mut().unwrap().remove("writeKey");
        assert_eq!(
            serde_json::from_str::<Value>(record.payload_json()).unwrap(),
            expected
        );
        assert_eq!(record.context_json(), None);
    }
    let (reason, _) = rejected(json!({"type": "track", "event": 5}), None);
    assert_eq!(reason, "event must be a string");
}

#[test]
fn a_message_that_is_not_an_object_is_stored_as_sent() {
    let (reason, record) = rejected(json!([1, "a"]), Some("page"));
    assert_eq!(reason, "message is not a JSON object");
    assert_eq!(
        (record.event_name(), record.event_type()),
        ("unknown", "page")
    );
    assert_eq!(record.payload_json(), r#"[1,"a"]"#);
    let (_, record) = rejected(json!(null), None);
    assert_eq!(
        (record.event_type(), record.payload_json()),
        ("unknown", "null")
    );
}

#[test]
fn invalid_field_values_are_refused_naming_the_field_and_left_out_of_the_record() {
    let long_id = "m".repeat(256);
    let (reason, record) = rejected(
        json!({"type": "track", "event": "e", "messageId": long_id}),
        None,
    );
    assert_eq!(reason, "messageId must be at most 255 characters");
    assert_eq!((record.event_name(), record.message_id()), ("e", None));

    let (reason, record) = rejected(
        json!({"type": "track", "event": "a\0b", "messageId": "m"}),
        None,
    );
    assert_eq!(reason, "event must not contain the NUL character (U+0000)");
    assert_eq!(
        (record.event_name(), record.message_id()),
        ("unknown", Some("m"))
    );

    let (reason, _) = rejected(json!({"type": "page", "name": "n".repeat(256)}), None);
    assert_eq!(reason, "name must be at most 255 characters");
    let (reason, _) = rejected(
        json!({"type": "track", "event": "e", "messageId": ""}),
        None,
    );
    assert_eq!(reason, "messageId must not be empty");
    let (reason, _) = rejected(
        json!({"type": "track", "event": "e", "anonymousId": {"id": 1}}),
        None,
    );
    assert_eq!(reason, "anonymousId must be a string");
    let (reason, _) = rejected(
        json!({"type": "screen", "context": {"sessionId": [1]}}),
        None,
    );
    assert_eq!(reason, "context.sessionId must be a string");
    let (reason, _) = rejected(json!({"type": "page", "name": 3}), None);
    assert_eq!(reason, "name must be a string");
}

#[test]
fn a_timestamp_that_does_not_parse_stays_in_the_context() {
    let event = mapped(
        json!({"type": "alias", "timestamp": "yesterday", "originalTimestamp": "2026-01-31T12:00:00Z"}),
    );
    assert_eq!(
        event.occurred_at().unwrap().to_rfc3339(),
        "2026-01-31T12:00:00+00:00"
    );
    assert_eq!(event.context_json(), Some(r#"{"timestamp":"yesterday"}"#));
    let event = mapped(json!({"type": "alias", "timestamp": 1_767_225_600}));
    assert_eq!(
        (event.occurred_at(), event.context_json()),
        (None, Some(r#"{"timestamp":1767225600}"#))
    );
    let event = mapped(
        json!({"type": "alias", "timestamp": "2026-01-31T12:00:00Z", "originalTimestamp": "2026-01-31T11:59:59Z"}),
    );
    assert_eq!(
        event.context_json(),
        Some(r#"{"originalTimestamp":"2026-01-31T11:59:59Z"}"#)
    );
}

#[test]
fn fields_of_other_message_types_are_kept_as_context_and_the_write_key_never() {
    let event = mapped(
        json!({"type": "identify", "userId": null, "anonymousId": "a", "properties": {"p": 1},
        "traits": null, "integrations": {"All": true}, "writeKey": "wk"}),
    );
    assert_eq!((event.payload_json(), event.user_id()), ("{}", None));
    assert_eq!(
        event.context_json(),
        Some(r#"{"integrations":{"All":true},"properties":{"p":1}}"#)
    );
    let event = mapped(json!({"type": "page", "event": "ignored", "name": " "}));
    assert_eq!(
        (event.event_name(), event.context_json()),
        ("page", Some(r#"{"event":"ignored"}"#))
    );
    let event = mapped(json!({"type": "track", "event": "e", "writeKey": "wk"}));
    assert_eq!(event.context_json(), None);
}

#[test]
fn properties_that_are_not_an_object_are_mapped_for_the_worker_to_judge() {
    let event = mapped(json!({"type": "track", "event": "e", "properties": [1, 2]}));
    assert_eq!(event.payload_json(), "[1,2]");
    let event = mapped(json!({"type": "track", "event": "e", "properties": "\u{0}"}));
    assert_eq!(event.payload_json(), r#""\u0000""#);
}
