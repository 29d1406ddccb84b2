//! An event being mapped from one message: the fields found so far, the first problem met, and
//! how a refused message still becomes a record to store.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::{Mapped, Rejection};
use crate::{FieldError, NewEvent, RawEventFields};

/// The name and type of a record when the message's own are unusable.
pub(crate) const UNKNOWN: &str = "unknown";

/// The protocol's words for the event fields, so a reason names what the client sent:
/// `messageId must be at most 255 characters`, not `message_id …`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldNames {
    pub(crate) event_name: &'static str,
    pub(crate) source: &'static str,
    pub(crate) session_id: &'static str,
    pub(crate) message_id: &'static str,
    pub(crate) user_id: &'static str,
    pub(crate) anonymous_id: &'static str,
    pub(crate) payload: &'static str,
}

impl FieldNames {
    fn of(&self, field: &'static str) -> &'static str {
        match field {
            "event_name" => self.event_name,
            "event_type" => "type",
            "source" => self.source,
            "session_id" => self.session_id,
            "message_id" => self.message_id,
            "user_id" => self.user_id,
            "anonymous_id" => self.anonymous_id,
            "payload" => self.payload,
            other => other,
        }
    }

    /// `error`'s message with the field named as the protocol names it.
    fn reason(&self, error: &FieldError) -> String {
        let field = self.of(error.field());
        match *error {
            FieldError::Missing { .. } => format!("{field} is required"),
            FieldError::Empty { .. } => FieldError::Empty { field }.to_string(),
            FieldError::TooLong { max_chars, .. } => {
                FieldError::TooLong { field, max_chars }.to_string()
            }
            FieldError::ContainsNul { .. } => FieldError::ContainsNul { field }.to_string(),
            FieldError::LoneSurrogate { .. } => FieldError::LoneSurrogate { field }.to_string(),
            FieldError::TooDeep { max_levels, .. } => {
                FieldError::TooDeep { field, max_levels }.to_string()
            }
        }
    }
}

/// The event fields read from a message. Mapping fills them in, recording the first problem
/// with [`Draft::refuse`] and going on, so a refused message's record keeps every valid field.
pub(crate) struct Draft<'a> {
    pub(crate) event_name: Option<Cow<'a, str>>,
    /// Always one of the protocol's constant types (or [`UNKNOWN`]), so always valid.
    pub(crate) event_type: &'static str,
    pub(crate) source: Option<Cow<'a, str>>,
    pub(crate) session_id: Option<Cow<'a, str>>,
    pub(crate) message_id: Option<Cow<'a, str>>,
    pub(crate) user_id: Option<Cow<'a, str>>,
    pub(crate) anonymous_id: Option<Cow<'a, str>>,
    pub(crate) occurred_at: Option<DateTime<Utc>>,
    pub(crate) payload_json: Option<String>,
    pub(crate) context_json: Option<String>,
    pub(crate) names: FieldNames,
    problem: Option<String>,
}

impl<'a> Draft<'a> {
    pub(crate) fn new(event_type: &'static str, names: FieldNames) -> Self {
        Self {
            event_name: None,
            event_type,
            source: None,
            session_id: None,
            message_id: None,
            user_id: None,
            anonymous_id: None,
            occurred_at: None,
            payload_json: None,
            context_json: None,
            names,
            problem: None,
        }
    }

    /// Marks the message refused for `reason`, unless an earlier problem already did.
    pub(crate) fn refuse(&mut self, reason: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some(reason.into());
        }
    }

    /// Whether a problem was recorded: the payload and context need not be built then.
    pub(crate) fn is_refused(&self) -> bool {
        self.problem.is_some()
    }

    /// A field's value as read, or `None` with the problem recorded.
    pub(crate) fn check<T>(&mut self, read: Result<Option<T>, String>) -> Option<T> {
        read.unwrap_or_else(|reason| {
            self.refuse(reason);
            None
        })
    }

    /// The event, or a rejection whose record has every valid field, `whole_message` (the
    /// message without its secrets) as payload and no context.
    pub(crate) fn finish(mut self, whole_message: impl FnOnce() -> String) -> Mapped {
        let reason = match self.problem.take() {
            Some(reason) => reason,
            None => match NewEvent::parse(self.raw()) {
                Ok(event) => return Ok(event),
                Err(error) => self.names.reason(&error),
            },
        };
        self.payload_json = Some(whole_message());
        self.context_json = None;
        self.event_name.get_or_insert(Cow::Borrowed(UNKNOWN));
        // Each failure clears the field at fault, so one pass per field is enough.
        for _ in 0..10 {
            match NewEvent::parse(self.raw()) {
                Ok(record) => return Err(Rejection::new(reason, record)),
                Err(error) => self.clear(error.field()),
            }
        }
        Err(Rejection::new(
            reason,
            NewEvent::from_constants(UNKNOWN, UNKNOWN),
        ))
    }

    fn raw(&self) -> RawEventFields<'_> {
        RawEventFields {
            event_name: self.event_name.as_deref(),
            event_type: Some(self.event_type),
            source: self.source.as_deref(),
            session_id: self.session_id.as_deref(),
            payload_json: self.payload_json.as_deref(),
            message_id: self.message_id.as_deref(),
            user_id: self.user_id.as_deref(),
            anonymous_id: self.anonymous_id.as_deref(),
            occurred_at: self.occurred_at,
            context_json: self.context_json.as_deref(),
        }
    }

    /// Replaces an invalid field by a safe value: a placeholder name/type, else nothing.
    fn clear(&mut self, field: &str) {
        match field {
            "event_name" => self.event_name = Some(Cow::Borrowed(UNKNOWN)),
            "event_type" => self.event_type = UNKNOWN,
            "source" => self.source = None,
            "session_id" => self.session_id = None,
            "message_id" => self.message_id = None,
            "user_id" => self.user_id = None,
            "anonymous_id" => self.anonymous_id = None,
            "payload" => self.payload_json = None,
            _ => self.context_json = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: FieldNames = FieldNames {
        event_name: "event",
        source: "aid",
        session_id: "sid",
        message_id: "messageId",
        user_id: "userId",
        anonymous_id: "anonymousId",
        payload: "properties",
    };

    #[test]
    fn reasons_name_the_protocols_field() {
        let mut draft = Draft::new("track", NAMES);
        draft.event_name = Some("e".into());
        draft.message_id = Some("m".repeat(256).into());
        draft.user_id = Some("u\0".into());
        draft.anonymous_id = Some("a".into());
        let rejected = draft.finish(|| "{}".to_owned()).unwrap_err();
        assert_eq!(
            rejected.reason(),
            "messageId must be at most 255 characters"
        );
        let record = rejected.into_event();
        assert_eq!((record.message_id(), record.user_id()), (None, None));
        assert_eq!(record.anonymous_id(), Some("a"));
        assert_eq!(record.event_name(), "e");
    }

    #[test]
    fn the_first_problem_is_the_reason_and_an_unnamed_record_is_unknown() {
        let mut draft = Draft::new("track", NAMES);
        draft.refuse("first");
        draft.refuse("second");
        draft.message_id = Some("m-1".into());
        let rejected = draft.finish(|| r#"{"x":1}"#.to_owned()).unwrap_err();
        assert_eq!(rejected.reason(), "first");
        let record = rejected.into_event();
        assert_eq!(
            (record.event_name(), record.event_type()),
            ("unknown", "track")
        );
        assert_eq!(
            (record.message_id(), record.payload_json()),
            (Some("m-1"), r#"{"x":1}"#)
        );
        assert_eq!(record.rejection(), Some("first"));
    }

    #[test]
    fn an_invalid_name_or_empty_message_id_is_cleared_from_the_record() {
        let mut draft = Draft::new("track", NAMES);
        draft.event_name = Some("  ".into());
        draft.message_id = Some("".into());
        let rejected = draft.finish(|| "{}".to_owned()).unwrap_err();
        assert_eq!(rejected.reason(), "event must not be empty");
        let record = rejected.into_event();
        assert_eq!(
            (record.event_name(), record.message_id()),
            ("unknown", None)
        );
    }
}
