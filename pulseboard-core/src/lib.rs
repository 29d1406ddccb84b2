//! PulseBoard's business rules as a pure library: no I/O, no async runtime.
//!
//! The server parses incoming events with [`NewEvent::parse`]; the worker hands each stored event
//! to [`Processor::process`] and writes back the [`Outcome`] it gets; both ask [`EventStatus`] and
//! [`RetryPolicy`] what may happen next. Everything that decides *what* happens to an event lives
//! here, so the adapters only move data.
//!
//! Analytics SDKs' messages (Segment, RudderStack, PostHog, Snowplow) become [`NewEvent`]s through
//! [`protocol`], so the SDK routes end in the same pipeline as the native API.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use pulseboard_core::{Outcome, ProcessInput, Processor};
//!
//! let processor = Processor::default();
//! let now = Utc.with_ymd_and_hms(2025, 12, 18, 10, 30, 0).unwrap();
//! let outcome = processor.process(
//!     ProcessInput {
//!         event_name: "page_view",
//!         event_type: "engagement",
//!         payload_json: r#"{"page": " /dashboard ", "duration": 45}"#,
//!     },
//!     now,
//! );
//! let Outcome::Processed { properties } = outcome else { panic!("expected success") };
//! assert_eq!(properties["page"], "/dashboard");
//! assert_eq!(properties["duration"], 45.0);
//! assert_eq!(properties["original"]["page"], " /dashboard ");
//! ```
#![forbid(unsafe_code)]

pub mod account;
mod event;
mod lease;
mod measure;
mod normalize;
mod process;
pub mod protocol;
mod retry;
mod status;
mod throttle;
mod validate;
mod write_key;

pub use event::{
    FieldError, MAX_CLIENT_ID_CHARS, MAX_EVENT_NAME_CHARS, MAX_EVENT_TYPE_CHARS,
    MAX_MESSAGE_ID_CHARS, MAX_PAYLOAD_NESTING, MAX_SESSION_ID_CHARS, MAX_SOURCE_CHARS, NewEvent,
    RawEventFields,
};
pub use lease::Lease;
pub use normalize::{Conversion, NormalizationRules, format_timestamp, properties_json};
pub use process::{Outcome, ProcessInput, Processor};
pub use retry::{
    AttemptBudget, MAX_FAILURE_MESSAGE_CHARS, RetryDecision, RetryPolicy, failure_message,
};
pub use status::{EventStatus, IllegalTransition, UnknownStatus};
pub use throttle::{AttemptLimit, Rate, TokenBucket, account_key, address_key};
pub use validate::{Limits, ValidationError, validate_payload};
pub use write_key::WriteKeyName;

#[cfg(test)]
mod tests;
