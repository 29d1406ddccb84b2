//! Property tests of the SDK protocol mapping (`pulseboard_core::protocol`) over generated JSON:
//! any message maps to an event or a rejection without panicking, whatever comes out is a valid
//! event, write keys never reach it, and a valid message keeps its ids and properties.

use proptest::prelude::*;
use pulseboard_core::protocol::{Mapped, posthog, segment, snowplow};
use pulseboard_core::{
    EventStatus, MAX_CLIENT_ID_CHARS, MAX_EVENT_NAME_CHARS, MAX_EVENT_TYPE_CHARS,
    MAX_FAILURE_MESSAGE_CHARS, MAX_MESSAGE_ID_CHARS, MAX_SESSION_ID_CHARS, MAX_SOURCE_CHARS,
    NewEvent, RawEventFields,
};
use serde_json::{Map, Value, json};

/// A write key no strategy produces, so finding it in an event means a key leaked.
const SECRET: &str = "sk-never-stored-7f3a";

/// The fields the three protocols read, so generated messages hit the mapping's branches.
const KEYS: &[&str] = &[
    "type",
    "event",
    "name",
    "properties",
    "traits",
    "messageId",
    "userId",
    "anonymousId",
    "timestamp",
    "originalTimestamp",
    "context",
    "sessionId",
    "writeKey",
    "batch",
    "uuid",
    "distinct_id",
    "$session_id",
    "api_key",
    "token",
    "data",
    "schema",
    "e",
    "eid",
    "uid",
    "duid",
    "nuid",
    "sid",
    "aid",
    "ttm",
    "dtm",
    "url",
    "page",
    "refr",
    "se_ac",
    "se_va",
    "pp_max",
    "ue_pr",
    "ue_px",
    "cx",
    "co",
];

/// Values the mapping gives meaning to: types, timestamps, encoded events.
const WORDS: &[&str] = &[
    "track",
    "page",
    "screen",
    "identify",
    "group",
    "alias",
    "Track",
    "pv",
    "pp",
    "se",
    "ue",
    "tr",
    "2026-01-31T12:00:00Z",
    "2026-01-31T12:00:00.5+01:00",
    "1767225600000",
    "-99999999999999999",
    "9.5",
    "NaN",
    "iglu:com.acme/link_click/jsonschema/1-0-1",
    r#"{"data":{"schema":"iglu:com.acme/click/jsonschema/1-0-0","data":{"a":1}}}"#,
    r#"{"data":{"schema":"iglu:com.acme/c\u0000k/jsonschema/1-0-0","data":[]}}"#,
    "eyJkYXRhIjp7InNjaGVtYSI6ImlnbHU6Y29tLmFjbWUvY2xpY2svanNvbnNjaGVtYS8xLTAtMCJ9fQ",
    "W3siZXZlbnQiOiJlIn1d",
];

/// Odd strings: unicode, escapes, NUL, blanks, and lengths at and over the field limits.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{0,8}",
        3 => "\\PC{0,12}",
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        2 => prop::collection::vec(
            prop::sample::select(vec!['"', '\\', '\n', '\0', '\u{1}', ' ', 'é', '😀', '\u{7f}']),
            0..8,
        )
        .prop_map(|chars| chars.into_iter().collect()),
        1 => prop::sample::select(vec![100_usize, 101, 255, 256, 300])
            .prop_flat_map(|len| prop::sample::select(vec!['x', 'é', '😀']).prop_map(move |c| c.to_string().repeat(len))),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![2 => prop::sample::select(KEYS).prop_map(str::to_owned), 1 => odd_string()]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![u64::MAX, 1 << 53, 0]).prop_map(Value::from),
        prop::sample::select(vec![1e300, -1e-300, 0.1, 1.5e10]).prop_map(Value::from),
        odd_string().prop_map(Value::from),
    ]
}

/// Any JSON value, up to 8 levels deep, with protocol field names among its keys.
fn json_tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(8, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A message-like object: protocol fields with any values.
fn json_message() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), json_tree(), 0..10)
        .prop_map(|map| Value::Object(map.into_iter().collect()))
}

/// A message-like object that names a known type in each protocol, so most map to events while
/// their other fields vary.
fn typed_message() -> impl Strategy<Value = Value> {
    let types = prop::sample::select(vec![
        "track", "page", "screen", "identify", "group", "alias",
    ]);
    let snowplow_types = prop::sample::select(vec!["pv", "pp", "se", "ue"]);
    (json_message(), types, snowplow_types, "[a-z]{1,8}").prop_map(
        |(mut message, kind, e, name)| {
            insert(&mut message, "type", json!(kind));
            insert(&mut message, "event", json!(name));
            insert(&mut message, "e", json!(e));
            insert(&mut message, "se_ac", json!(name));
            message
        },
    )
}

/// An object of plain properties (its values any JSON).
fn properties() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z$]{1,8}", json_tree(), 0..6)
        .prop_map(|map| map.into_iter().collect())
}

fn client_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9-]{1,64}"
}

/// Checks what the store relies on: the event passes `NewEvent::parse` again as it is (so every
/// limit holds), its JSON texts parse, and a rejection says why in a short, storable reason.
fn check_event(event: &NewEvent) -> Result<(), TestCaseError> {
    let again = NewEvent::parse(RawEventFields {
        event_name: Some(event.event_name()),
        event_type: Some(event.event_type()),
        source: event.source(),
        session_id: event.session_id(),
        payload_json: Some(event.payload_json()),
        message_id: event.message_id(),
        user_id: event.user_id(),
        anonymous_id: event.anonymous_id(),
        occurred_at: event.occurred_at(),
        context_json: event.context_json(),
    });
    prop_assert!(again.is_ok(), "{event:?} fails the rules again: {again:?}");
    let texts = [
        (Some(event.event_name()), MAX_EVENT_NAME_CHARS),
        (Some(event.event_type()), MAX_EVENT_TYPE_CHARS),
        (event.source(), MAX_SOURCE_CHARS),
        (event.session_id(), MAX_SESSION_ID_CHARS),
        (event.message_id(), MAX_MESSAGE_ID_CHARS),
        (event.user_id(), MAX_CLIENT_ID_CHARS),
        (event.anonymous_id(), MAX_CLIENT_ID_CHARS),
    ];
    for (text, max_chars) in texts
        .into_iter()
        .filter_map(|(text, max)| Some((text?, max)))
    {
        prop_assert!(
            !text.is_empty() && text.chars().count() <= max_chars && !text.contains('\0'),
            "{text:?}"
        );
    }
    prop_assert!(!event.event_name().trim().is_empty());
    prop_assert!(serde_json::from_str::<Value>(event.payload_json()).is_ok());
    if let Some(context) = event.context_json() {
        prop_assert!(
            serde_json::from_str::<Value>(context).is_ok_and(|context| context.is_object())
        );
    }
    match event.rejection() {
        Some(reason) => {
            prop_assert!(!reason.is_empty() && !reason.contains('\0'));
            prop_assert!(reason.chars().count() <= MAX_FAILURE_MESSAGE_CHARS);
            prop_assert_eq!(event.initial_status(), EventStatus::ValidationError);
        }
        None => prop_assert_eq!(event.initial_status(), EventStatus::Enqueued),
    }
    Ok(())
}

/// An event is not rejected; a rejection's record is, for the rejection's reason.
fn check_mapped(mapped: Mapped) -> Result<NewEvent, TestCaseError> {
    let event = match mapped {
        Ok(event) => {
            prop_assert_eq!(event.rejection(), None);
            event
        }
        Err(rejected) => {
            prop_assert_eq!(rejected.record().rejection(), Some(rejected.reason()));
            rejected.into_event()
        }
    };
    check_event(&event)?;
    Ok(event)
}

fn check_no_secret(event: &NewEvent) -> Result<(), TestCaseError> {
    prop_assert!(
        !event.payload_json().contains(SECRET),
        "{}",
        event.payload_json()
    );
    prop_assert!(!event.context_json().unwrap_or_default().contains(SECRET));
    Ok(())
}

/// Every field of an event, payload and context as JSON values (whatever their spacing).
fn fields(event: &NewEvent) -> (Vec<Option<String>>, Value, Option<Value>) {
    let texts = [
        Some(event.event_name()),
        Some(event.event_type()),
        event.session_id(),
        event.message_id(),
        event.user_id(),
        event.anonymous_id(),
        event.rejection(),
    ];
    let mut texts: Vec<Option<String>> = texts.iter().map(|text| text.map(str::to_owned)).collect();
    texts.push(event.occurred_at().map(|at| at.to_rfc3339()));
    let json = |text: &str| serde_json::from_str(text).expect("JSON text");
    (
        texts,
        json(event.payload_json()),
        event.context_json().map(json),
    )
}

/// `message` mapped by the Segment protocol, read from its JSON text as a route reads it.
fn segment_event(message: &Value, route_type: Option<&str>) -> Mapped {
    let text = message.to_string();
    segment::to_event(
        &segment::Message::parse(&text).expect("JSON text"),
        route_type,
    )
}

fn insert(message: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = message {
        map.insert(key.to_owned(), value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_json_maps_to_a_valid_event_or_record_in_every_protocol(
        message in prop_oneof![json_message(), typed_message(), json_tree()],
        route_type in prop::option::of(prop::sample::select(vec!["track", "page", "alias", "nope"])),
    ) {
        check_mapped(segment_event(&message, route_type))?;
        check_mapped(posthog::to_event(&message))?;
        check_mapped(snowplow::to_event(&message))?;
    }

    #[test]
    fn any_body_splits_into_messages_or_a_body_error(
        body in prop_oneof![
            json_message(),
            json_tree(),
            prop::collection::vec(json_message(), 0..4).prop_map(|batch| json!({"batch": batch, "writeKey": SECRET})),
            prop::collection::vec(json_message(), 0..4).prop_map(|events| json!({"schema": WORDS[0], "data": events})),
            odd_string().prop_map(|data| json!({"data": data})),
        ],
        route_type in prop::option::of(Just("track")),
    ) {
        let text = body.to_string();
        if let Ok(segment_body) = segment::parse(&text, route_type) {
            for message in segment_body.messages() {
                check_no_secret(&check_mapped(segment::to_event(message, route_type))?)?;
            }
        }
        for message in posthog::messages(body.clone()).unwrap_or_default() {
            check_mapped(posthog::to_event(&message))?;
        }
        for message in snowplow::messages(body).unwrap_or_default() {
            check_mapped(snowplow::to_event(&message))?;
        }
    }

    #[test]
    fn segment_reads_the_same_event_from_compact_and_spaced_text(
        message in prop_oneof![json_message(), typed_message()],
        route_type in prop::option::of(Just("page")),
    ) {
        let spaced = serde_json::to_string_pretty(&message).expect("JSON text");
        let from_spaced = segment::to_event(&segment::Message::parse(&spaced).expect("JSON"), route_type);
        let compact = check_mapped(segment_event(&message, route_type))?;
        let spaced = check_mapped(from_spaced)?;
        prop_assert_eq!(fields(&compact), fields(&spaced));
    }

    #[test]
    fn write_and_project_keys_never_reach_the_event(mut message in json_message()) {
        let mut segment_message = message.clone();
        insert(&mut segment_message, "writeKey", json!(SECRET));
        check_no_secret(&check_mapped(segment_event(&segment_message, Some("track")))?)?;
        insert(&mut message, "api_key", json!(SECRET));
        insert(&mut message, "token", json!(SECRET));
        if let Some(properties @ Value::Object(_)) = message.get_mut("properties") {
            insert(properties, "token", json!(SECRET));
        }
        check_no_secret(&check_mapped(posthog::to_event(&message))?)?;
    }

    #[test]
    fn a_valid_track_message_keeps_its_ids_and_properties(
        event in "[A-Za-z][A-Za-z0-9 _.]{0,40}",
        message_id in client_id(),
        user_id in client_id(),
        properties in properties(),
        context in properties(),
    ) {
        let message = json!({"type": "track", "event": event, "messageId": message_id, "userId": user_id,
            "properties": properties, "context": context, "timestamp": "2026-01-31T12:00:00Z"});
        let body = json!({"batch": [message], "writeKey": SECRET, "sentAt": "2026-01-31T12:00:01Z"});
        let text = body.to_string();
        let segment_body = segment::parse(&text, None).expect("a batch body");
        let mapped = check_mapped(segment::to_event(&segment_body.messages()[0], None))?;
        prop_assert_eq!(mapped.rejection(), None);
        prop_assert_eq!((mapped.event_name(), mapped.event_type()), (event.as_str(), "track"));
        prop_assert_eq!(mapped.message_id(), Some(message_id.as_str()));
        prop_assert_eq!(mapped.user_id(), Some(user_id.as_str()));
        let payload: Value = serde_json::from_str(mapped.payload_json()).expect("payload JSON");
        prop_assert_eq!(payload, Value::Object(properties));
        let kept: Value = serde_json::from_str(mapped.context_json().expect("a context")).expect("context JSON");
        prop_assert_eq!(&kept["context"], &Value::Object(context));
        prop_assert_eq!(&kept["sentAt"], "2026-01-31T12:00:01Z");
        check_no_secret(&mapped)?;
    }

    #[test]
    fn a_valid_capture_keeps_its_ids_and_properties_without_the_token(
        event in "[$]?[A-Za-z][A-Za-z0-9 _.]{0,40}",
        uuid in client_id(),
        distinct_id in client_id(),
        mut properties in properties(),
    ) {
        properties.remove("token");
        let mut with_token = properties.clone();
        with_token.insert("token".to_owned(), json!(SECRET));
        let body = json!({"api_key": SECRET, "batch": [{"event": event, "uuid": uuid, "distinct_id": distinct_id,
            "properties": with_token}]});
        prop_assert_eq!(posthog::body_api_key(&body), Some(SECRET));
        let messages = posthog::messages(body).expect("a batch body");
        let mapped = check_mapped(posthog::to_event(&messages[0]))?;
        prop_assert_eq!(mapped.rejection(), None);
        prop_assert_eq!((mapped.event_name(), mapped.event_type()), (event.as_str(), "capture"));
        prop_assert_eq!(mapped.message_id(), Some(uuid.as_str()));
        prop_assert_eq!(mapped.user_id(), Some(distinct_id.as_str()));
        let payload: Value = serde_json::from_str(mapped.payload_json()).expect("payload JSON");
        prop_assert_eq!(payload, Value::Object(properties));
        check_no_secret(&mapped)?;
    }

    #[test]
    fn a_valid_structured_event_keeps_its_ids_and_fields(
        action in "[a-z][a-z-]{0,20}",
        eid in client_id(),
        duid in client_id(),
        value in any::<i32>(),
    ) {
        let body = json!({"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
            "data": [{"e": "se", "se_ca": "c", "se_ac": action, "se_va": value.to_string(), "eid": eid, "duid": duid}]});
        let messages = snowplow::messages(body).expect("a payload_data body");
        let mapped = check_mapped(snowplow::to_event(&messages[0]))?;
        prop_assert_eq!((mapped.event_name(), mapped.event_type()), (action.as_str(), "struct"));
        prop_assert_eq!((mapped.message_id(), mapped.anonymous_id()), (Some(eid.as_str()), Some(duid.as_str())));
        let payload: Value = serde_json::from_str(mapped.payload_json()).expect("payload JSON");
        prop_assert_eq!(payload, json!({"category": "c", "action": action, "value": value}));
    }
}
