use serde_json::json;

use super::*;
use crate::NewEvent;

/// base64url, unpadded, of an unstruct_event holding a link_click with `targetUrl` `https://example.com/?a=1`.
const LINK_CLICK_PX: &str = "eyJzY2hlbWEiOiJpZ2x1OmNvbS5zbm93cGxvd2FuYWx5dGljcy5zbm93cGxvdy91bnN0cnVjdF9ldmVudC9qc29uc2NoZW1hLzEtMC0wIiwiZGF0YSI6eyJzY2hlbWEiOiJpZ2x1OmNvbS5hY21lL2xpbmtfY2xpY2svanNvbnNjaGVtYS8xLTAtMSIsImRhdGEiOnsidGFyZ2V0VXJsIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS8_YT0xIn19fQ";
/// base64url of a contexts array with one `iglu:com.acme/user/jsonschema/1-0-0` entry.
const CONTEXTS_CX: &str = "eyJzY2hlbWEiOiJpZ2x1OmNvbS5zbm93cGxvd2FuYWx5dGljcy5zbm93cGxvdy9jb250ZXh0cy9qc29uc2NoZW1hLzEtMC0wIiwiZGF0YSI6W3sic2NoZW1hIjoiaWdsdTpjb20uYWNtZS91c2VyL2pzb25zY2hlbWEvMS0wLTAiLCJkYXRhIjp7InRpZXIiOiJnb2xkIn19XX0";

#[track_caller]
fn mapped(message: Value) -> NewEvent {
    to_event(&message).unwrap_or_else(|rejected| panic!("rejected: {}", rejected.reason()))
}

#[track_caller]
fn reason(message: Value) -> String {
    match to_event(&message) {
        Ok(event) => panic!("accepted as {event:?}"),
        Err(rejected) => rejected.reason().to_owned(),
    }
}

#[test]
fn only_a_payload_data_envelope_is_read() {
    let schema = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-0";
    assert_eq!(
        messages(json!({"schema": schema, "data": [{"e": "pv"}]}))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(messages(json!({"data": []})).unwrap().len(), 0);
    let other = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0";
    assert_eq!(
        messages(json!({"schema": other, "data": []})),
        Err(BodyError::NotPayloadData)
    );
    assert_eq!(
        messages(json!({"schema": schema, "data": {}})),
        Err(BodyError::NotPayloadData)
    );
    assert_eq!(
        messages(json!([{"e": "pv"}])),
        Err(BodyError::NotPayloadData)
    );
}

#[test]
fn an_unstructured_event_is_read_from_base64_in_either_alphabet() {
    let standard = LINK_CLICK_PX.replace('_', "/") + "=";
    for ue_px in [LINK_CLICK_PX.to_owned(), standard] {
        let event = mapped(json!({"e": "ue", "ue_px": ue_px, "tna": "sp"}));
        assert_eq!(
            (event.event_name(), event.event_type()),
            ("link_click", "unstruct")
        );
        assert_eq!(
            event.payload_json(),
            r#"{"targetUrl":"https://example.com/?a=1"}"#
        );
        assert_eq!(
            event.context_json(),
            Some(r#"{"tna":"sp","ue_schema":"iglu:com.acme/link_click/jsonschema/1-0-1"}"#)
        );
    }
}

#[test]
fn an_unreadable_unstructured_event_is_rejected_saying_why() {
    assert_eq!(
        reason(json!({"e": "ue"})),
        "unstructured event without ue_pr or ue_px"
    );
    assert_eq!(
        reason(json!({"e": "ue", "ue_pr": "{"})),
        "ue_pr is not valid JSON"
    );
    assert_eq!(
        reason(json!({"e": "ue", "ue_pr": {}})),
        "ue_pr must be a string"
    );
    assert_eq!(
        reason(json!({"e": "ue", "ue_px": "!!"})),
        "ue_px is not valid base64"
    );
    assert_eq!(
        reason(json!({"e": "ue", "ue_px": "e30"})),
        "ue_px holds no event schema (data.schema)"
    );
    let bad_schema = r#"{"data": {"schema": "com.acme/x", "data": {}}}"#;
    assert_eq!(
        reason(json!({"e": "ue", "ue_pr": bad_schema})),
        r#"ue_pr event schema is not an Iglu URI: "com.acme/x""#
    );
}

#[test]
fn contexts_are_decoded_when_they_decode_and_kept_raw_otherwise() {
    let event = mapped(json!({"e": "pv", "cx": CONTEXTS_CX, "co": r#"{"a":1}"#}));
    let context: Value = serde_json::from_str(event.context_json().unwrap()).unwrap();
    assert_eq!(context["cx"]["data"][0]["data"]["tier"], "gold");
    assert_eq!(context["co"], json!({"a": 1}));
    let event = mapped(json!({"e": "pv", "cx": "not base64!", "co": "{"}));
    assert_eq!(
        event.context_json(),
        Some(r#"{"co":"{","cx":"not base64!"}"#)
    );
}

#[test]
fn page_pings_and_structured_values_are_numbers_when_numeric() {
    let event = mapped(
        json!({"e": "pp", "url": "/a", "pp_mix": "0", "pp_max": "12", "pp_miy": "x", "pp_may": null}),
    );
    assert_eq!(
        (event.event_name(), event.event_type()),
        ("page_ping", "page_ping")
    );
    assert_eq!(
        event.payload_json(),
        r#"{"max_x":12,"min_x":0,"min_y":"x","url":"/a"}"#
    );
    assert_eq!(event.context_json(), None, "a null is an absent field");
    let event = mapped(json!({"e": "se", "se_ac": "play", "se_va": "NaN", "se_la": "intro"}));
    assert_eq!(
        event.payload_json(),
        r#"{"action":"play","label":"intro","value":"NaN"}"#
    );
    assert_eq!(
        reason(json!({"e": "se", "se_ca": "c"})),
        "structured event without an action (se_ac)"
    );
}

#[test]
fn ids_prefer_duid_and_ttm_and_keep_the_others_as_context() {
    let event = mapped(
        json!({"e": "pv", "duid": "d", "nuid": "n", "ttm": "1767225600000", "dtm": "1", "uid": 5}),
    );
    assert_eq!(
        (event.anonymous_id(), event.user_id()),
        (Some("d"), Some("5"))
    );
    assert_eq!(
        event.occurred_at().unwrap().to_rfc3339(),
        "2026-01-01T00:00:00+00:00"
    );
    assert_eq!(event.context_json(), Some(r#"{"dtm":"1","nuid":"n"}"#));
    let event = mapped(json!({"e": "pv", "nuid": "n", "ttm": "later"}));
    assert_eq!(
        (event.anonymous_id(), event.occurred_at()),
        (Some("n"), None)
    );
    assert_eq!(event.context_json(), Some(r#"{"ttm":"later"}"#));
}

#[test]
fn invalid_fields_and_types_are_rejected_naming_them() {
    assert_eq!(
        reason(json!({"e": "pv", "aid": "a".repeat(101)})),
        "aid must be at most 100 characters"
    );
    assert_eq!(
        reason(json!({"e": "pv", "nuid": "\0"})),
        "nuid must not contain the NUL character (U+0000)"
    );
    assert_eq!(
        reason(json!({"e": "tr"})),
        r#"unknown Snowplow event type "tr""#
    );
    assert_eq!(
        reason(json!({"p": "web"})),
        "Snowplow event without a type (e)"
    );
    assert_eq!(reason(json!({"e": 1})), "e must be a string");
    let rejected = to_event(&json!("pv")).unwrap_err();
    assert_eq!(rejected.reason(), "message is not a JSON object");
    let record = rejected.into_event();
    assert_eq!(
        (record.event_type(), record.payload_json()),
        ("unknown", r#""pv""#)
    );
    let record = to_event(&json!({"e": "se", "eid": "e-1", "sid": "s"}))
        .unwrap_err()
        .into_event();
    assert_eq!(
        (
            record.event_type(),
            record.message_id(),
            record.session_id()
        ),
        ("struct", Some("e-1"), Some("s"))
    );
}
