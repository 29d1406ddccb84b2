//! Embedding `pulseboard-core` in another service: the same validation and normalization the
//! PulseBoard worker applies, with rules of your own added to the table.
//!
//! ```text
//! cargo run --example embed_core
//! ```

use chrono::Utc;
use pulseboard_core::{Conversion, Limits, NormalizationRules, Outcome, ProcessInput, Processor};
use serde_json::{Value, json};

/// A custom rule: cents as an integer, whatever form the client sent the amount in.
fn to_cents(value: &Value) -> Value {
    let amount = Conversion::Float.apply(value).as_f64().unwrap_or(0.0);
    json!((amount * 100.0).round() as i64)
}

fn main() {
    let rules = NormalizationRules::default()
        .with("amount", Conversion::Float)
        .with("country", Conversion::TrimmedUppercase)
        .with("amount_cents", Conversion::Custom(to_cents));
    // A stricter size limit than PulseBoard's default 1 MiB.
    let processor = Processor::new(
        Limits {
            max_bytes: 64 * 1024,
            max_depth: 10,
        },
        rules,
    );

    let events = [
        r#"{"page": " /checkout ", "amount": "19.99", "country": " fr ", "amount_cents": "19.99"}"#,
        r#"[1, 2, 3]"#,
        r#"{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}}"#,
    ];
    for payload_json in events {
        let input = ProcessInput {
            event_name: "purchase",
            event_type: "conversion",
            payload_json,
        };
        match processor.process(input, Utc::now()) {
            Outcome::Processed { properties } => println!("processed: {properties}"),
            Outcome::Rejected { error } => println!("rejected:  {error}"),
        }
    }
}
