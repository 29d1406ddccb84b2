use serde_json::json;

use super::*;
use crate::NewEvent;

#[track_caller]
fn mapped(message: Value) -> NewEvent {
    to_event(&message, None).unwrap_or_else(|rejected| panic!("rejected: {}", rejected.reason()))
}

#[track_caller]
fn rejected(message: Value, route_type: Option<&str>) -> (String, NewEvent) {
    match to_event(&message, route_type) {
        Ok(event) => panic!("accepted as {event:?}"),
        Err(rejected) => (rejected.reason().to_owned(), rejected.into_event()),
    }
}

#[test]
fn a_batch_shares_its_envelope_fields_but_not_the_key_or_per_message_fields() {
    let body = json!({
        "writeKey": "wk", "sentAt": "2026-01-31T12:00:01Z", "timestamp": "2026-01-31T12:00:01Z",
        "batch": [{"type": "track", "event": "a"}, {"type": "track", "event": "b", "sentAt": "own"}, 7],
    });
    let messages = messages(body, None).unwrap();
    assert_eq!(
        messages[0],
        json!({"type": "track", "event": "a", "sentAt": "2026-01-31T12:00:01Z"})
    );
    assert_eq!(messages[1]["sentAt"], "own");
    assert_eq!(messages[2], json!(7));
}

#[test]
fn a_body_that_is_not_the_envelope_is_a_body_error() {
    assert_eq!(
        messages(json!({"batch": {}}), None),
        Err(BodyError::NoBatch)
    );
    assert_eq!(
        messages(json!({"events": []}), None),
        Err(BodyError::NoBatch)
    );
    assert_eq!(messages(json!("x"), None), Err(BodyError::NoBatch));
    assert_eq!(
        messages(json!([{"type": "track"}]), Some("track")),
        Err(BodyError::NotAMessage)
    );
    assert_eq!(messages(json!({"batch": []}), None), Ok(vec![]));
    assert_eq!(
        messages(json!({"event": "e"}), Some("track")),
        Ok(vec![json!({"event": "e"})])
    );
}

#[test]
fn the_write_key_is_read_only_when_a_non_empty_string() {
    assert_eq!(body_write_key(&json!({"writeKey": "wk"})), Some("wk"));
    assert_eq!(body_write_key(&json!({"writeKey": ""})), None);
    assert_eq!(body_write_key(&json!({"writeKey": 5})), None);
    assert_eq!(body_write_key(&json!([])), None);
}

#[test]
fn the_message_type_wins_over_the_route_and_is_read_in_any_case() {
    let event = to_event(&json!({"type": "Identify", "userId": "u"}), Some("track")).unwrap();
    assert_eq!(
        (event.event_name(), event.event_type()),
        ("identify", "identify")
    );
    let event = to_event(&json!({"event": "e"}), Some("track")).unwrap();
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
