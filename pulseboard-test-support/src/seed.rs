//! The seed guide's requests (`../shared/seed/`), kept once as fixture files: the single event
//! of its first `curl` and the batch of three.

/// The guide's single event, a page view with `page`, `duration` and `scroll_depth`.
pub const EVENT: &str = include_str!("../fixtures/seed/event.json");

/// The guide's batch: a page view, a button click and a form submit.
pub const BATCH: &str = include_str!("../fixtures/seed/batch.json");

/// The single event's payload, as JSON text.
pub const PAYLOAD: &str = r#"{"page": "/dashboard", "duration": 45, "scroll_depth": 75}"#;

/// The single event as a JSON value.
pub fn event() -> serde_json::Value {
    serde_json::from_str(EVENT).expect("the seed event fixture is JSON")
}

/// The batch as a JSON value.
pub fn batch() -> serde_json::Value {
    serde_json::from_str(BATCH).expect("the seed batch fixture is JSON")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fixtures_are_the_guides_requests() {
        let event = super::event();
        assert_eq!(event["event_name"], "page_view");
        let payload: serde_json::Value = serde_json::from_str(super::PAYLOAD).unwrap();
        assert_eq!(event["payload"], payload);
        assert_eq!(super::batch()["events"].as_array().unwrap().len(), 3);
    }
}
