//! Incoming events, accepted only through [`NewEvent::parse`].

use chrono::{DateTime, Utc};

use crate::EventStatus;

/// Longest accepted `event_name`, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 255;
/// Longest accepted `event_type`, in characters.
pub const MAX_EVENT_TYPE_CHARS: usize = 100;
/// Longest accepted `source`, in characters.
pub const MAX_SOURCE_CHARS: usize = 100;
/// Longest accepted `session_id`, in characters.
pub const MAX_SESSION_ID_CHARS: usize = 255;
/// Longest accepted `message_id`, in characters.
pub const MAX_MESSAGE_ID_CHARS: usize = 255;
/// Longest accepted client `user_id` or `anonymous_id`, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 255;
/// The deepest nesting of arrays and objects a payload (or context) may have to be stored at
/// all. Far above the processing rule's depth of 10 (see [`crate::Limits`]): a payload between
/// the two is accepted and then judged `validation_error`, as clients expect; one deeper than
/// this is refused at the door, so no answer of the API nests deeper than this plus a few
/// levels and every common JSON reader (Python's `json`, JavaScript, serde_json) can read it.
pub const MAX_PAYLOAD_NESTING: usize = 64;

/// The fields of an event as a client sent them, before any rule was applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEventFields<'a> {
    /// Required, non-empty.
    pub event_name: Option<&'a str>,
    /// Required, non-empty.
    pub event_type: Option<&'a str>,
    /// Optional origin of the event (`"web"`, `"ios"`, …); empty means absent.
    pub source: Option<&'a str>,
    /// Optional client session; empty means absent.
    pub session_id: Option<&'a str>,
    /// The payload's JSON text exactly as received; `None` when the client sent none.
    pub payload_json: Option<&'a str>,
    /// Optional client id of the event, unique per owner: a repeat is stored once.
    pub message_id: Option<&'a str>,
    /// Optional id the client's app gives its end user (SDKs' `userId`, PostHog `distinct_id`).
    pub user_id: Option<&'a str>,
    /// Optional id an SDK gives an end user not yet identified (`anonymousId`).
    pub anonymous_id: Option<&'a str>,
    /// When the event happened by the client's clock (SDKs' `timestamp`).
    pub occurred_at: Option<DateTime<Utc>>,
    /// JSON text of everything else the client sent with the event (an SDK message's other
    /// fields), kept so nothing sent is dropped.
    pub context_json: Option<&'a str>,
}

/// Why an incoming event was refused. Each variant names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A required field is absent.
    #[error("field required")]
    Missing {
        /// The field's name in the request body.
        field: &'static str,
    },
    /// A required field is an empty (or all-whitespace) string.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's name in the request body.
        field: &'static str,
    },
    /// A field is longer than its limit.
    #[error("{field} must be at most {max_chars} characters")]
    TooLong {
        /// The field's name in the request body.
        field: &'static str,
        /// The limit, in characters.
        max_chars: usize,
    },
    /// A text field holds U+0000, which PostgreSQL `text` cannot store. Refused in every mode
    /// alike, so an event accepted by the embedded default is also storable in production.
    #[error("{field} must not contain the NUL character (U+0000)")]
    ContainsNul {
        /// The field's name in the request body.
        field: &'static str,
    },
    /// The payload holds a `\uD800`–`\uDFFF` escape outside a surrogate pair. Such text is not
    /// Unicode: strict JSON readers (serde_json, jq) refuse it, so it is never stored.
    #[error("{field} contains a lone UTF-16 surrogate escape")]
    LoneSurrogate {
        /// The field's name in the request body.
        field: &'static str,
    },
    /// Arrays and objects nest deeper than [`MAX_PAYLOAD_NESTING`].
    #[error("{field} must not nest arrays and objects more than {max_levels} levels deep")]
    TooDeep {
        /// The field's name in the request body.
        field: &'static str,
        /// The limit, in levels.
        max_levels: usize,
    },
}

impl FieldError {
    /// The request-body field this error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing { field }
            | Self::Empty { field }
            | Self::TooLong { field, .. }
            | Self::ContainsNul { field }
            | Self::LoneSurrogate { field }
            | Self::TooDeep { field, .. } => field,
        }
    }
}

/// An event that passed the API's checks and may be stored.
///
/// The payload stays JSON text exactly as received: it is stored as-is and judged by the worker
/// (see [`crate::Processor`]), so an over-large payload is accepted here and rejected there.
///
/// ```
/// use pulseboard_core::{FieldError, NewEvent, RawEventFields};
///
/// let ok = NewEvent::parse(RawEventFields {
///     event_name: Some("page_view"),
///     event_type: Some("engagement"),
///     ..Default::default()
/// })
/// .unwrap();
/// assert_eq!(ok.payload_json(), "{}");
///
/// let err = NewEvent::parse(RawEventFields { event_type: Some("x"), ..Default::default() });
/// assert_eq!(err.unwrap_err().field(), "event_name");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    event_name: String,
    event_type: String,
    source: Option<String>,
    session_id: Option<String>,
    payload_json: String,
    message_id: Option<String>,
    user_id: Option<String>,
    anonymous_id: Option<String>,
    occurred_at: Option<DateTime<Utc>>,
    context_json: Option<String>,
    rejection: Option<String>,
}

impl NewEvent {
    /// Applies the field rules; the first offending field (in declaration order) is reported.
    pub fn parse(raw: RawEventFields<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            event_name: required("event_name", raw.event_name, MAX_EVENT_NAME_CHARS)?,
            event_type: required("event_type", raw.event_type, MAX_EVENT_TYPE_CHARS)?,
            source: optional("source", raw.source, MAX_SOURCE_CHARS)?,
            session_id: optional("session_id", raw.session_id, MAX_SESSION_ID_CHARS)?,
            payload_json: payload("payload", raw.payload_json)?,
            message_id: message_id("message_id", raw.message_id)?,
            user_id: optional("user_id", raw.user_id, MAX_CLIENT_ID_CHARS)?,
            anonymous_id: optional("anonymous_id", raw.anonymous_id, MAX_CLIENT_ID_CHARS)?,
            occurred_at: raw.occurred_at,
            context_json: raw
                .context_json
                .map(|json| payload("context", Some(json)))
                .transpose()?,
            rejection: None,
        })
    }

    /// An event of fixed texts and nothing else, for the protocol mapping's last resort: a
    /// record of a message none of whose own values passed the rules. Unchecked, so callers pass
    /// only constants that satisfy them (non-empty, within the limits, no NUL).
    pub(crate) fn from_constants(event_name: &'static str, event_type: &'static str) -> Self {
        Self {
            event_name: event_name.to_owned(),
            event_type: event_type.to_owned(),
            source: None,
            session_id: None,
            payload_json: "{}".to_owned(),
            message_id: None,
            user_id: None,
            anonymous_id: None,
            occurred_at: None,
            context_json: None,
            rejection: None,
        }
    }

    /// This event, marked as a message that could not become a valid event: it is stored
    /// already judged, as `validation_error` with `reason`, and never processed. Protocol
    /// routes store such messages instead of dropping them, so a client's retry finds them.
    pub fn rejected(mut self, reason: impl Into<String>) -> Self {
        self.rejection = Some(reason.into());
        self
    }

    /// Why this event was rejected on arrival, when it was (see [`NewEvent::rejected`]).
    pub fn rejection(&self) -> Option<&str> {
        self.rejection.as_deref()
    }

    /// The status the event is stored in: `enqueued`, or `validation_error` when rejected.
    pub fn initial_status(&self) -> EventStatus {
        if self.rejection.is_some() {
            EventStatus::ValidationError
        } else {
            EventStatus::Enqueued
        }
    }

    /// The client's id of its end user, when given.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The SDK's anonymous id of the end user, when given.
    pub fn anonymous_id(&self) -> Option<&str> {
        self.anonymous_id.as_deref()
    }

    /// When the event happened by the client's clock, when given.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
    }

    /// JSON text of the other fields the client sent, when any.
    pub fn context_json(&self) -> Option<&str> {
        self.context_json.as_deref()
    }

    /// Sets the source when the client named none (a write key's name, for instance).
    pub fn with_default_source(mut self, source: &str) -> Self {
        if self.source.is_none() && !source.is_empty() {
            self.source = Some(source.chars().take(MAX_SOURCE_CHARS).collect());
        }
        self
    }

    /// The event's name, e.g. `page_view`.
    pub fn event_name(&self) -> &str {
        &self.event_name
    }

    /// The event's type, e.g. `engagement`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// Where the event came from, when the client said.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The client's session id, when given.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The payload's JSON text as received (`{}` when none was sent).
    pub fn payload_json(&self) -> &str {
        &self.payload_json
    }

    /// The client's id of this event, when given: the store keeps one event per owner and
    /// message id, so a retried submission is stored once.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }
}

fn required(
    field: &'static str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<String, FieldError> {
    let value = value.ok_or(FieldError::Missing { field })?;
    if value.trim().is_empty() {
        return Err(FieldError::Empty { field });
    }
    within_limit(field, value, max_chars)
}

fn optional(
    field: &'static str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    match value {
        None | Some("") => Ok(None),
        Some(value) => within_limit(field, value, max_chars).map(Some),
    }
}

/// An optional client id: absent is fine, empty is not (it would name nothing).
fn message_id(field: &'static str, value: Option<&str>) -> Result<Option<String>, FieldError> {
    match value {
        None => Ok(None),
        Some("") => Err(FieldError::Empty { field }),
        Some(id) => within_limit(field, id, MAX_MESSAGE_ID_CHARS).map(Some),
    }
}

fn within_limit(field: &'static str, value: &str, max_chars: usize) -> Result<String, FieldError> {
    if value.chars().count() > max_chars {
        return Err(FieldError::TooLong { field, max_chars });
    }
    if value.contains('\0') {
        return Err(FieldError::ContainsNul { field });
    }
    Ok(value.to_owned())
}

/// The payload text, `{}` when absent. `\u0000` inside it stays: it is valid JSON text, and the
/// worker reports it as not JSON-safe, as the original service did.
fn payload(field: &'static str, json: Option<&str>) -> Result<String, FieldError> {
    let json = json.unwrap_or("{}");
    match inspect(json, MAX_PAYLOAD_NESTING) {
        Inspected::LoneSurrogate => Err(FieldError::LoneSurrogate { field }),
        Inspected::TooDeep => Err(FieldError::TooDeep {
            field,
            max_levels: MAX_PAYLOAD_NESTING,
        }),
        Inspected::Storable => Ok(json.to_owned()),
    }
}

/// What [`inspect`] found in JSON text, the lone surrogate first: it makes the text unreadable.
#[derive(Debug, PartialEq, Eq)]
enum Inspected {
    /// A `\uXXXX` surrogate escape that is not part of a high–low pair.
    LoneSurrogate,
    /// Arrays and objects nest more than the levels allowed (`[]` is one level).
    TooDeep,
    Storable,
}

/// One pass over `json` for lone surrogate escapes and for nesting deeper than `max_levels`,
/// without parsing and without recursion however deep it goes.
///
/// `json` must be syntactically valid JSON (the server's parser checked it): brackets outside
/// strings then open and close containers, and backslashes occur only inside strings, each
/// starting one escape. Strings are skipped to their next quote or backslash with `memchr`.
fn inspect(json: &str, max_levels: usize) -> Inspected {
    let bytes = json.as_bytes();
    let (mut at, mut level, mut too_deep) = (0, 0usize, false);
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => match end_of_string(bytes, at + 1) {
                Some(end) => {
                    at = end;
                    continue;
                }
                None => return Inspected::LoneSurrogate,
            },
            b'[' | b'{' => {
                level += 1;
                too_deep |= level > max_levels;
            }
            b']' | b'}' => level = level.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    if too_deep {
        Inspected::TooDeep
    } else {
        Inspected::Storable
    }
}

/// The index just past the string whose content starts at `at`; `None` if the string holds a
/// surrogate escape that is not part of a high–low pair.
fn end_of_string(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let Some(offset) = memchr::memchr2(b'"', b'\\', &bytes[at..]) else {
            return Some(bytes.len());
        };
        let found = at + offset;
        if bytes[found] == b'"' {
            return Some(found + 1);
        }
        at = match unicode_escape(bytes, found) {
            Some(0xD800..=0xDBFF) => match unicode_escape(bytes, found + 6) {
                Some(0xDC00..=0xDFFF) => found + 12,
                _ => return None,
            },
            Some(0xDC00..=0xDFFF) => return None,
            Some(_) => found + 6,
            None => found + 2,
        };
    }
}

/// The code unit of a `\uXXXX` escape starting at `at`, if one starts there.
fn unicode_escape(bytes: &[u8], at: usize) -> Option<u16> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}
