//! Unit tests: every rule and every message.

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::*;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 18, 10, 30, 0).unwrap()
}

#[track_caller]
fn rejection(payload_json: &str) -> String {
    let input = ProcessInput {
        event_name: "e",
        event_type: "t",
        payload_json,
    };
    match Processor::default().process(input, now()) {
        Outcome::Rejected { error } => error.to_string(),
        Outcome::Processed { .. } => panic!("payload {payload_json:.80} was accepted"),
    }
}

fn nested_arrays(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!([inner]))
}

/// Takes a deep value apart iteratively: dropping it recursively would overflow the stack.
fn dismantle(mut value: Value) {
    while let Value::Array(mut items) = value {
        value = items.pop().unwrap_or(Value::Null);
    }
}

#[test]
fn seed_page_view_is_normalized_like_the_original() {
    let input = ProcessInput {
        event_name: "page_view",
        event_type: "engagement",
        payload_json: r#"{"page": "/dashboard", "duration": 45, "scroll_depth": 75}"#,
    };
    let Outcome::Processed { properties } = Processor::default().process(input, now()) else {
        panic!("seed payload rejected");
    };
    assert_eq!(
        properties,
        json!({
            "original": {"page": "/dashboard", "duration": 45, "scroll_depth": 75},
            "normalized_at": "2025-12-18T10:30:00.000000Z",
            "page": "/dashboard",
            "duration": 45.0,
            "scroll_depth": 75.0,
        })
    );
}

#[test]
fn non_object_payloads_are_named_with_python_type_names() {
    assert_eq!(rejection("[1]"), "Payload must be dict, got list");
    assert_eq!(rejection(r#""x""#), "Payload must be dict, got str");
    assert_eq!(rejection("3"), "Payload must be dict, got int");
    assert_eq!(rejection("3.5"), "Payload must be dict, got float");
    assert_eq!(rejection("true"), "Payload must be dict, got bool");
}

#[test]
fn null_payload_counts_as_an_empty_object() {
    let input = ProcessInput {
        event_name: "e",
        event_type: "t",
        payload_json: "null",
    };
    let outcome = Processor::default().process(input, now());
    let Outcome::Processed { properties } = outcome else {
        panic!("null payload rejected")
    };
    assert_eq!(properties["original"], json!({}));
}

#[test]
fn nul_characters_in_strings_or_keys_are_not_json_safe() {
    assert_eq!(
        rejection(r#"{"a": "x\u0000y"}"#),
        "Payload not JSON-serializable: string contains U+0000 (NUL)"
    );
    assert_eq!(
        rejection(r#"{"k\u0000": 1}"#),
        "Payload not JSON-serializable: key contains U+0000 (NUL)"
    );
}

#[test]
fn unparseable_numbers_are_not_json_safe() {
    assert!(
        rejection(r#"{"a": 1e400}"#)
            .starts_with("Payload not JSON-serializable: number out of range")
    );
}

#[test]
fn json_safety_outranks_size_and_depth() {
    let deep_and_big = format!(
        r#"{{"big": "{}", "deep": {}, "bad": "\u0000"}}"#,
        "x".repeat(1 << 21),
        "[".repeat(20) + &"]".repeat(20)
    );
    assert_eq!(
        rejection(&deep_and_big),
        "Payload not JSON-serializable: string contains U+0000 (NUL)"
    );
}

#[test]
fn payload_over_one_mebibyte_is_rejected_with_the_original_message() {
    let payload = format!(r#"{{"data": "{}"}}"#, "x".repeat(1024 * 1024));
    assert_eq!(rejection(&payload), "Payload exceeds 1MB size limit");
}

#[test]
fn size_outranks_depth() {
    let payload = format!(
        r#"{{"data": "{}", "deep": {}}}"#,
        "x".repeat(1024 * 1024),
        "[".repeat(20) + &"]".repeat(20)
    );
    assert_eq!(rejection(&payload), "Payload exceeds 1MB size limit");
}

#[test]
fn size_limit_message_follows_custom_limits() {
    let limits = Limits {
        max_bytes: 2048,
        max_depth: 10,
    };
    let err = validate_payload(&json!({"a": "x".repeat(3000)}), &limits).unwrap_err();
    assert_eq!(err.to_string(), "Payload exceeds 2KB size limit");
    let limits = Limits {
        max_bytes: 100,
        max_depth: 10,
    };
    let err = validate_payload(&json!({"a": "x".repeat(300)}), &limits).unwrap_err();
    assert_eq!(err.to_string(), "Payload exceeds 100 bytes size limit");
}

#[test]
fn depth_ten_passes_and_eleven_fails() {
    let limits = Limits::default();
    let at_ten = json!({"a": nested_arrays(9)}); // the innermost 1 sits at level 10
    assert!(validate_payload(&at_ten, &limits).is_ok());
    let at_eleven = json!({"a": nested_arrays(10)});
    let err = validate_payload(&at_eleven, &limits).unwrap_err();
    assert_eq!(err.to_string(), "Payload exceeds max nesting depth (10)");
}

#[test]
fn deeply_nested_text_is_reported_as_too_deep() {
    let payload = format!(r#"{{"a": {}1{}}}"#, "[".repeat(500), "]".repeat(500));
    assert_eq!(
        rejection(&payload),
        "Payload exceeds max nesting depth (10)"
    );
}

#[test]
fn a_value_nested_100_000_levels_is_rejected_without_overflowing_the_stack() {
    let mut deep = json!({});
    for _ in 0..100_000 {
        deep = Value::Array(vec![deep]);
    }
    let wrapped = json!({"deep": Value::Null});
    let mut wrapped = wrapped;
    wrapped["deep"] = deep;
    let err = validate_payload(&wrapped, &Limits::default()).unwrap_err();
    assert_eq!(err, ValidationError::TooDeep { max_depth: 10 });
    dismantle(wrapped["deep"].take());
}

#[test]
fn missing_event_name_or_type_is_the_last_rule() {
    let input = ProcessInput {
        event_name: " ",
        event_type: "t",
        payload_json: "{}",
    };
    let Outcome::Rejected { error } = Processor::default().process(input, now()) else {
        panic!("accepted an empty event_name");
    };
    assert_eq!(error.to_string(), "Missing event_name or event_type");
    let input = ProcessInput {
        event_name: "",
        event_type: "",
        payload_json: "[]",
    };
    let Outcome::Rejected { error } = Processor::default().process(input, now()) else {
        panic!("accepted a list payload");
    };
    assert_eq!(error.to_string(), "Payload must be dict, got list");
}

#[test]
fn float_conversion_follows_the_original_rules() {
    let convert = |v: Value| Conversion::Float.apply(&v);
    assert_eq!(convert(json!(45)), json!(45.0));
    assert_eq!(convert(json!(" 2.5 ")), json!(2.5));
    assert_eq!(convert(json!("abc")), json!(0.0));
    assert_eq!(convert(json!("inf")), json!(0.0));
    assert_eq!(convert(json!(true)), json!(0.0));
    assert_eq!(convert(json!(null)), json!(0.0));
}

#[test]
fn string_conversions_trim_and_stringify() {
    assert_eq!(
        Conversion::TrimmedString.apply(&json!("  /home ")),
        json!("/home")
    );
    assert_eq!(Conversion::TrimmedString.apply(&json!(42)), json!("42"));
    assert_eq!(Conversion::TrimmedString.apply(&json!(null)), json!(""));
    assert_eq!(
        Conversion::TrimmedUppercase.apply(&json!(" fr ")),
        json!("FR")
    );
}

#[test]
fn custom_rules_apply_and_cannot_overwrite_original() {
    let rules = NormalizationRules::none()
        .with("amount", Conversion::Float)
        .with("original", Conversion::Custom(|_| json!("hijacked")));
    let properties = rules.normalize(json!({"amount": "9.5", "page": " x "}), now());
    assert_eq!(properties["amount"], json!(9.5));
    assert_eq!(
        properties["original"],
        json!({"amount": "9.5", "page": " x "})
    );
    assert!(
        properties.get("page").is_none(),
        "page has no rule in this table"
    );
}

#[test]
fn absent_fields_are_not_added() {
    let properties = NormalizationRules::default().normalize(json!({"other": 1}), now());
    assert_eq!(properties.as_object().unwrap().len(), 2);
}

#[test]
fn status_model_allows_exactly_the_designed_moves() {
    use EventStatus::*;
    let allowed = [
        (Enqueued, Processing),
        (Processing, Processing),
        (Processing, Processed),
        (Processing, ValidationError),
        (Processing, Retrying),
        (Retrying, Processing),
        (Retrying, Failed),
    ];
    for from in EventStatus::ALL {
        for to in EventStatus::ALL {
            let expected = allowed.contains(&(from, to));
            assert_eq!(from.transition(to).is_ok(), expected, "{from} -> {to}");
        }
    }
    assert_eq!(
        EventStatus::sources_of(Processing),
        vec![Enqueued, Processing, Retrying]
    );
}

#[test]
fn an_attempt_starts_only_from_unfinished_statuses() {
    let sources = EventStatus::attempt_sources();
    for status in EventStatus::ALL {
        assert_eq!(sources.contains(&status), !status.is_final(), "{status}");
    }
}

#[test]
fn status_text_round_trips() {
    for status in EventStatus::ALL {
        assert_eq!(status.as_str().parse::<EventStatus>(), Ok(status));
    }
    assert!("done".parse::<EventStatus>().is_err());
}

#[test]
fn retry_policy_backs_off_two_four_eight_seconds_then_gives_up() {
    use std::time::Duration;
    let policy = RetryPolicy::default();
    let delays: Vec<_> = (1..=4).map(|attempt| policy.decide(attempt)).collect();
    assert_eq!(
        delays,
        vec![
            RetryDecision::RetryAfter(Duration::from_secs(2)),
            RetryDecision::RetryAfter(Duration::from_secs(4)),
            RetryDecision::RetryAfter(Duration::from_secs(8)),
            RetryDecision::GiveUp,
        ]
    );
    let huge = RetryPolicy {
        base_delay: Duration::from_secs(1),
        max_retries: u32::MAX,
    };
    assert!(
        matches!(huge.decide(200), RetryDecision::RetryAfter(_)),
        "no overflow panic"
    );
}

#[test]
fn failure_message_is_prefixed_and_bounded() {
    let long = "é".repeat(2000);
    let message = failure_message(&long);
    assert!(message.starts_with("Processing error: é"));
    assert_eq!(message.chars().count(), MAX_FAILURE_MESSAGE_CHARS);
}

#[test]
fn new_event_names_the_offending_field() {
    let base = RawEventFields {
        event_name: Some("n"),
        event_type: Some("t"),
        ..Default::default()
    };
    let err = NewEvent::parse(RawEventFields {
        event_name: Some("  "),
        ..base
    })
    .unwrap_err();
    assert_eq!(
        err,
        FieldError::Empty {
            field: "event_name"
        }
    );
    let err = NewEvent::parse(RawEventFields {
        event_type: None,
        ..base
    })
    .unwrap_err();
    assert_eq!(
        err,
        FieldError::Missing {
            field: "event_type"
        }
    );
    let long = "x".repeat(256);
    let err = NewEvent::parse(RawEventFields {
        session_id: Some(&long),
        ..base
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "session_id must be at most 255 characters");
    let ok = NewEvent::parse(RawEventFields {
        source: Some(""),
        payload_json: Some("[1]"),
        ..base
    })
    .unwrap();
    assert_eq!((ok.source(), ok.payload_json()), (None, "[1]"));
}

#[test]
fn new_event_refuses_nul_in_every_text_field_naming_it() {
    let base = RawEventFields {
        event_name: Some("n"),
        event_type: Some("t"),
        ..Default::default()
    };
    let poisoned = "a\0b";
    let cases: [(&str, RawEventFields<'_>); 4] = [
        (
            "event_name",
            RawEventFields {
                event_name: Some(poisoned),
                ..base
            },
        ),
        (
            "event_type",
            RawEventFields {
                event_type: Some(poisoned),
                ..base
            },
        ),
        (
            "source",
            RawEventFields {
                source: Some(poisoned),
                ..base
            },
        ),
        (
            "session_id",
            RawEventFields {
                session_id: Some(poisoned),
                ..base
            },
        ),
    ];
    for (field, raw) in cases {
        assert_eq!(
            NewEvent::parse(raw).unwrap_err(),
            FieldError::ContainsNul { field }
        );
    }
}

#[test]
fn new_event_refuses_lone_surrogate_escapes_and_keeps_pairs_and_nul_escapes() {
    let base = RawEventFields {
        event_name: Some("n"),
        event_type: Some("t"),
        ..Default::default()
    };
    let with_payload = |json| {
        NewEvent::parse(RawEventFields {
            payload_json: Some(json),
            ..base
        })
    };
    for lone in [
        r#"{"a":"\ud800"}"#,
        r#"{"a":"\uDBFFx"}"#,
        r#"{"a":"\udc00"}"#,
        r#"{"\ud800":1}"#,
        r#"{"a":"\ud800\u0041"}"#,
        r#"{"a":"\ud800\ud800"}"#,
        r#"["\\\ud800"]"#,
    ] {
        assert_eq!(
            with_payload(lone).unwrap_err(),
            FieldError::LoneSurrogate { field: "payload" },
            "{lone}"
        );
    }
    // A lone surrogate makes the text unreadable: it is reported before a nesting too deep.
    let deep_and_lone = format!(r#"{}"\udc00"{}"#, "[".repeat(200), "]".repeat(200));
    assert_eq!(
        with_payload(&deep_and_lone).unwrap_err(),
        FieldError::LoneSurrogate { field: "payload" }
    );
    for fine in [
        r#"{"a":"\ud83d\ude00"}"#,
        r#"{"a":"\\ud800"}"#,
        r#"{"a":"\u0000"}"#,
        r#"{"a":"\\\\ud800", "b": "\u00e9"}"#,
        r#"{"emoji":"😀"}"#,
    ] {
        assert_eq!(with_payload(fine).unwrap().payload_json(), fine);
    }
}

#[test]
fn message_ids_are_optional_non_empty_and_at_most_255_characters() {
    let base = RawEventFields {
        event_name: Some("n"),
        event_type: Some("t"),
        ..Default::default()
    };
    let with_id = |id| {
        NewEvent::parse(RawEventFields {
            message_id: id,
            ..base
        })
    };
    assert_eq!(with_id(None).unwrap().message_id(), None);
    assert_eq!(with_id(Some("msg-1")).unwrap().message_id(), Some("msg-1"));
    let longest = "é".repeat(MAX_MESSAGE_ID_CHARS);
    assert_eq!(
        with_id(Some(&longest)).unwrap().message_id(),
        Some(longest.as_str())
    );
    let too_long = "x".repeat(MAX_MESSAGE_ID_CHARS + 1);
    assert_eq!(
        with_id(Some(&too_long)).unwrap_err(),
        FieldError::TooLong {
            field: "message_id",
            max_chars: MAX_MESSAGE_ID_CHARS
        }
    );
    assert_eq!(
        with_id(Some("")).unwrap_err(),
        FieldError::Empty {
            field: "message_id"
        }
    );
    assert_eq!(
        with_id(Some("a\0")).unwrap_err(),
        FieldError::ContainsNul {
            field: "message_id"
        }
    );
}

fn event_with_payload(payload_json: &str) -> Result<NewEvent, FieldError> {
    NewEvent::parse(RawEventFields {
        event_name: Some("deep"),
        event_type: Some("test"),
        payload_json: Some(payload_json),
        ..Default::default()
    })
}

#[test]
fn payloads_nested_past_the_hard_cap_are_refused_at_the_door() {
    let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    assert!(event_with_payload(&nested(MAX_PAYLOAD_NESTING)).is_ok());
    assert_eq!(
        event_with_payload(&nested(MAX_PAYLOAD_NESTING + 1)),
        Err(FieldError::TooDeep {
            field: "payload",
            max_levels: MAX_PAYLOAD_NESTING
        })
    );
    let objects = format!("{}1{}", r#"{"a":"#.repeat(65), "}".repeat(65));
    assert!(matches!(
        event_with_payload(&objects),
        Err(FieldError::TooDeep { .. })
    ));
    // Brackets and escaped quotes inside strings open nothing.
    let in_strings = format!(
        r#"{{"text": "{}\"{}", "ok": [1]}}"#,
        "[".repeat(100),
        "{".repeat(100)
    );
    assert!(event_with_payload(&in_strings).is_ok());
    // Between the rule's 10 and the cap: stored, then judged by the worker.
    assert!(event_with_payload(&nested(11)).is_ok());
}

#[test]
fn stored_properties_keep_the_original_payload_text_exactly() {
    let payload_json =
        r#"{"a":-0,"c":123456789012345678901234567890,"dup":1,"dup":2,"duration":"2"}"#;
    let input = ProcessInput {
        event_name: "exact",
        event_type: "test",
        payload_json,
    };
    let Outcome::Processed { properties } = Processor::default().process(input, now()) else {
        panic!("expected success")
    };
    let text = properties_json(&properties, payload_json);
    assert_eq!(
        text,
        format!(
            r#"{{"original":{payload_json},"duration":2.0,"normalized_at":"{}"}}"#,
            format_timestamp(now())
        )
    );
    assert_eq!(properties_json(&properties, " null "), {
        let rest = text.split_once(payload_json).unwrap().1;
        format!(r#"{{"original":{{}}{rest}"#)
    });
}

#[test]
fn only_processed_counts_as_processed_and_names_list_every_status() {
    let processed: Vec<EventStatus> = EventStatus::ALL
        .into_iter()
        .filter(|status| status.is_processed())
        .collect();
    assert_eq!(processed, [EventStatus::Processed]);
    assert_eq!(
        EventStatus::names(),
        "enqueued, processing, retrying, processed, validation_error, failed"
    );
}
