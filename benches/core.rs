//! Validate + normalize throughput on fixture payloads, and SDK protocol mapping:
//! `cargo bench -p pulseboard-core`.

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pulseboard_core::protocol::segment;
use pulseboard_core::{Limits, ProcessInput, Processor, validate_payload};
use serde_json::{Value, json};

const SEED_PAYLOAD: &str = r#"{"page": "/dashboard", "duration": 45, "scroll_depth": 75}"#;

/// ~10 KB: a realistic e-commerce event with a cart, user agent and nested context.
fn realistic_payload() -> Value {
    let items: Vec<Value> = (0..40)
        .map(|i| json!({"sku": format!("SKU-{i:05}"), "name": format!("Product \"{i}\" – ünïcode"), "qty": i % 3 + 1, "price": 19.99 + i as f64, "tags": ["sale", "new"]}))
        .collect();
    json!({
        "page": " /checkout ", "referrer": "https://example.com/cart?x=1", "duration": "12.5",
        "scroll_depth": 80, "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        "context": {"locale": "fr-FR", "screen": {"w": 1920, "h": 1080}, "utm": {"source": "news"}},
        "cart": {"items": items, "currency": "EUR"}
    })
}

/// Just under 1 MiB: many medium strings, the shape of a large but valid upload.
fn one_mebibyte_payload() -> Value {
    let chunk = "lorem ipsum dolor sit amet, consectetur adipiscing elit ".repeat(16);
    let entries: serde_json::Map<String, Value> = (0..1_100)
        .map(|i| (format!("field_{i}"), Value::from(chunk.clone())))
        .collect();
    Value::Object(entries)
}

fn depth_ten_payload() -> Value {
    (0..10).fold(
        json!({"leaf": 1}),
        |inner, level| json!({format!("level_{level}"): inner, "n": level}),
    )["level_9"]
        .take()
}

fn bench_process(c: &mut Criterion, name: &str, payload_json: &str) {
    let processor = Processor::default();
    let now = Utc::now();
    let mut group = c.benchmark_group("process");
    group.throughput(Throughput::Bytes(payload_json.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let input = ProcessInput {
                event_name: "page_view",
                event_type: "engagement",
                payload_json: black_box(payload_json),
            };
            black_box(processor.process(input, now))
        })
    });
    group.finish();
}

/// A `/v1/batch` body as @segment/analytics-node sends it: 100 track calls with a cart's
/// properties, the library's context and the key in the body.
fn segment_batch_body() -> Value {
    let batch: Vec<Value> = (0..100)
        .map(|i| {
            json!({
                "type": "track", "event": "Order Completed", "userId": format!("user-{i}"),
                "anonymousId": "5f3c2a9e-8d1b-4c7a-9e2f-1a2b3c4d5e6f",
                "messageId": format!("node-next-1769860800000-{i:04}-3f9a"),
                "timestamp": "2026-01-31T12:00:00.123Z",
                "properties": {
                    "order_id": format!("ord-{i}"), "total": 30.5 + i as f64, "currency": "EUR",
                    "page": "/checkout", "duration": 12.5,
                    "products": [
                        {"sku": "SKU-00001", "name": "Mug", "price": 9.5, "quantity": 1},
                        {"sku": "SKU-00002", "name": "T-shirt – ünïcode", "price": 21, "quantity": 1},
                    ],
                },
                "context": {
                    "library": {"name": "@segment/analytics-node", "version": "3.1.0"},
                    "ip": "203.0.113.7", "locale": "fr-FR", "sessionId": 1769860000000_u64,
                    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                    "page": {
                        "path": "/checkout", "url": "https://shop.example.com/checkout",
                        "referrer": "https://shop.example.com/cart",
                    },
                },
                "integrations": {},
                "_metadata": {"nodeVersion": "22.11.0", "jsRuntime": "node"},
            })
        })
        .collect();
    json!({"batch": batch, "writeKey": "wk_0123456789abcdef", "sentAt": "2026-01-31T12:00:01.000Z"})
}

/// A Segment `/v1/batch` body from its text to events, as the route does it: read in place,
/// every message mapped (the body's parse included, unlike the processing benches).
fn bench_protocol(c: &mut Criterion) {
    let body = segment_batch_body().to_string();
    let mut group = c.benchmark_group("protocol");
    group.throughput(Throughput::Elements(100));
    group.bench_function("segment_batch_100", |b| {
        b.iter(|| {
            let body = segment::parse(black_box(&body), None).expect("a batch body");
            let events: Vec<_> = body
                .messages()
                .iter()
                .map(|message| segment::to_event(message, None))
                .collect();
            black_box(events)
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_process(c, "seed_small", SEED_PAYLOAD);
    bench_process(c, "realistic_10kb", &realistic_payload().to_string());
    bench_process(c, "depth_10", &depth_ten_payload().to_string());
    bench_process(c, "one_mib", &one_mebibyte_payload().to_string());

    // Validation alone on an already-parsed value: the walk that measures size, depth and safety.
    let big = one_mebibyte_payload();
    let bytes = serde_json::to_vec(&big).map(|v| v.len()).unwrap_or(0);
    let mut group = c.benchmark_group("validate_only");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("one_mib", |b| {
        b.iter(|| validate_payload(black_box(&big), &Limits::default()))
    });
    group.finish();

    bench_protocol(c);
}

criterion_group!(core, benches);
criterion_main!(core);
