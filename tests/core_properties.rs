//! Property tests of pulseboard-core over generated JSON trees.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use pulseboard_core::{
    EventStatus, Limits, NormalizationRules, Outcome, ProcessInput, Processor, ValidationError,
    validate_payload,
};
use serde_json::{Map, Value};

/// Strings with unicode, escapes and control characters (but no NUL, which is tested apart).
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,8}",
        "\\PC{0,12}",
        prop::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('\n'),
                Just('\u{1}'),
                Just('\u{1f}'),
                Just('é'),
                Just('😀'),
                Just('\u{7f}')
            ],
            0..8
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        json_string().prop_map(Value::from),
    ]
}

fn json_tree() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(8, 128, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_string(), inner, 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(json_string(), json_tree(), 0..6)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

/// Wraps `leaf` in `levels` containers, each an array or an object as `kinds` says.
fn nest(leaf: Value, levels: usize, kinds: &[bool]) -> Value {
    (0..levels).fold(leaf, |inner, level| {
        if kinds[level % kinds.len()] {
            Value::Array(vec![inner])
        } else {
            Value::Object(Map::from_iter([("k".to_owned(), inner)]))
        }
    })
}

/// An object whose compact serialization is exactly `size` bytes (size ≥ 8).
fn object_of_exact_size(size: usize, filler: char) -> Value {
    // {"a":"…"} is 8 bytes plus the filler's UTF-8 length.
    let mut text = String::new();
    while text.len() + filler.len_utf8() <= size - 8 {
        text.push(filler);
    }
    text.extend(std::iter::repeat_n('x', size - 8 - text.len()));
    serde_json::json!({"a": text})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn measured_size_equals_serialized_length(payload in json_object()) {
        let serialized = serde_json::to_vec(&payload).unwrap().len();
        let at_limit = Limits { max_bytes: serialized, max_depth: usize::MAX };
        prop_assert!(validate_payload(&payload, &at_limit).is_ok());
        if serialized > 0 {
            let below = Limits { max_bytes: serialized - 1, max_depth: usize::MAX };
            prop_assert_eq!(validate_payload(&payload, &below), Err(ValidationError::TooLarge { max_bytes: serialized - 1 }));
        }
    }

    #[test]
    fn depth_ten_passes_and_eleven_fails_for_any_mix_of_containers(kinds in prop::collection::vec(any::<bool>(), 1..11), leaf in json_leaf()) {
        let limits = Limits::default();
        // The root object is level 0, "root" holds level 1, so 9 more containers put the leaf at 10.
        let ten_levels = Value::Object(Map::from_iter([("root".to_owned(), nest(leaf.clone(), 9, &kinds))]));
        prop_assert!(validate_payload(&ten_levels, &limits).is_ok());
        let eleven_levels = Value::Object(Map::from_iter([("root".to_owned(), nest(leaf, 10, &kinds))]));
        prop_assert_eq!(validate_payload(&eleven_levels, &limits), Err(ValidationError::TooDeep { max_depth: 10 }));
    }

    #[test]
    fn normalization_never_panics_and_keeps_the_original(payload in json_object()) {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let properties = NormalizationRules::default().normalize(payload.clone(), now);
        prop_assert_eq!(&properties["original"], &payload);
        prop_assert_eq!(&properties["normalized_at"], "2026-01-01T00:00:00.000000Z");
    }

    #[test]
    fn processing_never_panics_on_arbitrary_text(text in "\\PC{0,64}") {
        let input = ProcessInput { event_name: "e", event_type: "t", payload_json: &text };
        let _ = Processor::default().process(input, Utc::now());
    }

    #[test]
    fn processed_properties_keep_the_stored_payload(payload in json_object()) {
        let text = serde_json::to_string(&payload).unwrap();
        let input = ProcessInput { event_name: "e", event_type: "t", payload_json: &text };
        let limits = Limits { max_bytes: usize::MAX, max_depth: usize::MAX };
        let outcome = Processor::new(limits, NormalizationRules::default()).process(input, Utc::now());
        match outcome {
            Outcome::Processed { properties } => prop_assert_eq!(&properties["original"], &payload),
            Outcome::Rejected { error } => prop_assert!(false, "rejected: {error}"),
        }
    }

    #[test]
    fn no_sequence_of_transitions_leaves_a_final_state(moves in prop::collection::vec(0usize..6, 0..40)) {
        let mut status = EventStatus::Enqueued;
        let mut reached_final = false;
        for index in moves {
            let target = EventStatus::ALL[index];
            match status.transition(target) {
                Ok(next) => {
                    prop_assert!(!reached_final, "{status} -> {target} left a final state");
                    status = next;
                    reached_final = status.is_final();
                }
                Err(refused) => prop_assert_eq!(refused.from, status),
            }
        }
    }
}

#[test]
fn payload_of_exactly_one_mebibyte_passes_and_one_byte_more_fails() {
    for filler in ['x', 'é', '😀'] {
        let exact = object_of_exact_size(1_048_576, filler);
        assert_eq!(serde_json::to_vec(&exact).unwrap().len(), 1_048_576);
        assert!(
            validate_payload(&exact, &Limits::default()).is_ok(),
            "filler {filler}"
        );
        let over = object_of_exact_size(1_048_577, filler);
        assert_eq!(
            validate_payload(&over, &Limits::default()),
            Err(ValidationError::TooLarge {
                max_bytes: 1_048_576
            })
        );
    }
}
