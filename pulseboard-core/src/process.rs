//! The worker's single entry point: one stored event in, one outcome out.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{EventStatus, Limits, NormalizationRules, ValidationError, validate_payload};

/// A stored event as the worker loaded it.
#[derive(Debug, Clone, Copy)]
pub struct ProcessInput<'a> {
    /// The event's name; must be non-empty.
    pub event_name: &'a str,
    /// The event's type; must be non-empty.
    pub event_type: &'a str,
    /// The payload's JSON text as stored.
    pub payload_json: &'a str,
}

/// What should become of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Valid: store these `properties` and mark the event processed.
    Processed {
        /// `original`, `normalized_at` and the converted fields.
        properties: Value,
    },
    /// Invalid: store the error and never try again.
    Rejected {
        /// The rule that failed; its text is the event's `processing_error`.
        error: ValidationError,
    },
}

impl Outcome {
    /// The status this outcome moves the event to.
    pub fn status(&self) -> EventStatus {
        match self {
            Self::Processed { .. } => EventStatus::Processed,
            Self::Rejected { .. } => EventStatus::ValidationError,
        }
    }
}

/// Validates and normalizes events with one set of limits and conversion rules.
#[derive(Debug, Clone, Default)]
pub struct Processor {
    limits: Limits,
    rules: NormalizationRules,
}

impl Processor {
    /// A processor with the given limits and conversion table.
    pub fn new(limits: Limits, rules: NormalizationRules) -> Self {
        Self { limits, rules }
    }

    /// The limits this processor enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Judges one event at time `now`. Deterministic: the same input and `now` give the same
    /// outcome. Never panics, whatever the payload text.
    pub fn process(&self, input: ProcessInput<'_>, now: DateTime<Utc>) -> Outcome {
        match self.validate(input) {
            Ok(payload) => Outcome::Processed {
                properties: self.rules.normalize(payload, now),
            },
            Err(error) => Outcome::Rejected { error },
        }
    }

    fn validate(&self, input: ProcessInput<'_>) -> Result<Value, ValidationError> {
        let payload = parse_payload(input.payload_json, &self.limits)?;
        validate_payload(&payload, &self.limits)?;
        if input.event_name.trim().is_empty() || input.event_type.trim().is_empty() {
            return Err(ValidationError::MissingRequiredFields);
        }
        Ok(payload)
    }
}

/// Parses stored payload text. serde_json refuses documents nested deeper than 128 levels; such
/// a document certainly breaks the depth rule, so it is reported as too deep.
fn parse_payload(payload_json: &str, limits: &Limits) -> Result<Value, ValidationError> {
    serde_json::from_str(payload_json).map_err(|error| {
        let reason = error.to_string();
        if reason.starts_with("recursion limit exceeded") {
            ValidationError::TooDeep {
                max_depth: limits.max_depth,
            }
        } else {
            ValidationError::NotJsonSafe { reason }
        }
    })
}
