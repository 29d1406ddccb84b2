//! The event routes: submit one, submit a batch, read one, list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pulseboard_core::{EventStatus, FieldError, NewEvent, RawEventFields, format_timestamp};
use pulseboard_store::{EventFilter, EventId, StoredEvent};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, FieldIssue};
use crate::extract::{AuthUser, JsonBody, PathParam, QueryParams, Sender};
use crate::routes::list_query::ListQuery;

/// One event as a client sends it. String fields stay untyped JSON so a wrong type can be
/// reported against the right field; the payload stays raw text (parsed once, stored as is).
#[derive(Debug, Deserialize)]
pub(super) struct RawEvent {
    event_name: Option<Value>,
    event_type: Option<Value>,
    source: Option<Value>,
    session_id: Option<Value>,
    payload: Option<Box<RawValue>>,
    message_id: Option<Value>,
}

/// A batch request.
#[derive(Debug, Deserialize)]
pub(super) struct RawBatch {
    events: Option<Vec<RawEvent>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct EventAccepted {
    event_id: i64,
    task_id: String,
    status: &'static str,
    message: &'static str,
    /// The message id was stored already: nothing was stored, the ids are the first answer's.
    duplicate: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct BatchAccepted {
    event_count: usize,
    event_ids: Vec<i64>,
    task_id: String,
    status: &'static str,
    /// Positions in `events` whose message id was stored already.
    duplicate_positions: Vec<usize>,
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    sender: Sender,
    JsonBody(raw): JsonBody<RawEvent>,
) -> Result<(StatusCode, Json<EventAccepted>), ApiError> {
    let event = parse_event(&raw, &[json!("body")]).map_err(ApiError::Validation)?;
    let accepted = sender.submit(&state, vec![event]).await?;
    let body = EventAccepted {
        event_id: accepted.event_ids.first().map_or(0, |id| id.0),
        duplicate: !accepted.duplicate_positions.is_empty(),
        task_id: accepted.task_id,
        status: EventStatus::Enqueued.as_str(),
        message: "Event enqueued for processing",
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

pub(crate) async fn submit_batch(
    State(state): State<AppState>,
    sender: Sender,
    JsonBody(raw): JsonBody<RawBatch>,
) -> Result<(StatusCode, Json<BatchAccepted>), ApiError> {
    let events = parse_batch(raw, state.limits().max_batch_events)?;
    let accepted = sender.submit(&state, events).await?;
    let body = BatchAccepted {
        event_count: accepted.event_ids.len(),
        event_ids: accepted.event_ids.iter().map(|id| id.0).collect(),
        task_id: accepted.task_id,
        status: EventStatus::Enqueued.as_str(),
        duplicate_positions: accepted.duplicate_positions,
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

#[tracing::instrument(name = "get_event", skip_all, fields(event_id = %id))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    PathParam(id): PathParam,
) -> Result<Json<EventView>, ApiError> {
    let id = parse_event_id(&id)?;
    // Another user's event answers 404 too: existence is not revealed.
    let event = state
        .store()
        .get_event(id, Some(user.id))
        .await?
        .ok_or(ApiError::NotFound("Event not found"))?;
    Ok(Json(EventView::from(event)))
}

/// An event id from the path, or a 422 naming it.
pub(crate) fn parse_event_id(text: &str) -> Result<EventId, ApiError> {
    text.parse::<i64>().map(EventId).map_err(|_| {
        ApiError::invalid(
            vec![json!("path"), json!("id")],
            "Input should be a valid integer",
            "int_parsing",
        )
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct EventPage {
    items: Vec<EventView>,
    /// Pass as `before_id` to get the next page; `null` on the last page.
    next_before_id: Option<i64>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let filter = EventFilter::try_from(query)?;
    let events = state.store().list_events(user.id, &filter).await?;
    let next_before_id = (events.len() == filter.limit as usize)
        .then(|| events.last().map(|e| e.id.0))
        .flatten();
    Ok(Json(EventPage {
        items: events.into_iter().map(EventView::from).collect(),
        next_before_id,
    }))
}

/// The event resource of the API.
#[derive(Debug, Serialize)]
pub(crate) struct EventView {
    id: i64,
    task_id: String,
    event_name: String,
    event_type: String,
    source: Option<String>,
    session_id: Option<String>,
    payload: Box<RawValue>,
    properties: Option<Box<RawValue>>,
    status: &'static str,
    processed: bool,
    processed_at: Option<String>,
    processing_error: Option<String>,
    attempts: i32,
    created_at: String,
    message_id: Option<String>,
    /// The client app's id of its end user (SDK `userId`, PostHog `distinct_id`).
    user_id: Option<String>,
    anonymous_id: Option<String>,
    /// When it happened by the client's clock.
    occurred_at: Option<String>,
    /// When PulseBoard received it (the same instant as `created_at`).
    received_at: String,
    /// Everything else the client sent with it.
    context: Option<Box<RawValue>>,
}

impl From<StoredEvent> for EventView {
    fn from(event: StoredEvent) -> Self {
        Self {
            id: event.id.0,
            task_id: event.task_id,
            event_name: event.event_name,
            event_type: event.event_type,
            source: event.source,
            session_id: event.session_id,
            payload: raw_json(event.payload_json),
            properties: event.properties_json.map(raw_json),
            status: event.status.as_str(),
            processed: event.status.is_processed(),
            processed_at: event.processed_at.map(format_timestamp),
            processing_error: event.processing_error,
            attempts: event.attempts,
            created_at: format_timestamp(event.created_at),
            message_id: event.message_id,
            user_id: event.client_user_id,
            anonymous_id: event.anonymous_id,
            occurred_at: event.occurred_at.map(format_timestamp),
            received_at: format_timestamp(event.created_at),
            context: event.context_json.map(raw_json),
        }
    }
}

/// Stored JSON text embedded as is (it was valid JSON when stored).
fn raw_json(text: String) -> Box<RawValue> {
    RawValue::from_string(text).unwrap_or_else(|error| {
        tracing::error!(error = %error, "stored JSON is not valid JSON");
        RawValue::from_string("null".to_owned()).unwrap_or_default()
    })
}

fn parse_batch(raw: RawBatch, max_events: usize) -> Result<Vec<NewEvent>, ApiError> {
    let loc = vec![json!("body"), json!("events")];
    let Some(raw_events) = raw.events else {
        return Err(ApiError::invalid(loc, "Field required", "missing"));
    };
    if raw_events.is_empty() {
        return Err(ApiError::invalid(
            loc,
            "List should have at least 1 item after validation",
            "too_short",
        ));
    }
    if raw_events.len() > max_events {
        let message = format!(
            "List should have at most {max_events} items after validation, not {}",
            raw_events.len()
        );
        return Err(ApiError::invalid(loc, message, "too_long"));
    }
    let mut events = Vec::with_capacity(raw_events.len());
    let mut issues = Vec::new();
    for (index, raw_event) in raw_events.iter().enumerate() {
        match parse_event(raw_event, &[json!("body"), json!("events"), json!(index)]) {
            Ok(event) => events.push(event),
            Err(found) => issues.extend(found),
        }
    }
    if issues.is_empty() {
        Ok(events)
    } else {
        Err(ApiError::Validation(issues))
    }
}

/// Checks field types, then hands the fields to core's parser; every issue names its field.
fn parse_event(raw: &RawEvent, loc: &[Value]) -> Result<NewEvent, Vec<FieldIssue>> {
    let mut issues = Vec::new();
    let mut text = |field: &'static str, value: &Option<Value>, required: bool| -> Option<String> {
        let at = || [loc, &[json!(field)]].concat();
        match value {
            None | Some(Value::Null) if required => {
                issues.push(FieldIssue::new(at(), "Field required", "missing"));
                None
            }
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                issues.push(FieldIssue::new(
                    at(),
                    "Input should be a valid string",
                    "string_type",
                ));
                None
            }
        }
    };
    let event_name = text("event_name", &raw.event_name, true);
    let event_type = text("event_type", &raw.event_type, true);
    let source = text("source", &raw.source, false);
    let session_id = text("session_id", &raw.session_id, false);
    let message_id = text("message_id", &raw.message_id, false);
    if !issues.is_empty() {
        return Err(issues);
    }
    NewEvent::parse(RawEventFields {
        event_name: event_name.as_deref(),
        event_type: event_type.as_deref(),
        source: source.as_deref(),
        session_id: session_id.as_deref(),
        payload_json: raw.payload.as_deref().map(RawValue::get),
        message_id: message_id.as_deref(),
        ..RawEventFields::default()
    })
    .map_err(|error| vec![field_issue(error, loc)])
}

/// The 422 entry of a core field error, at `loc` plus the field's name.
pub(crate) fn field_issue(error: FieldError, loc: &[Value]) -> FieldIssue {
    let at = [loc, &[json!(error.field())]].concat();
    match error {
        FieldError::Missing { .. } => FieldIssue::new(at, "Field required", "missing"),
        FieldError::Empty { .. } => FieldIssue::new(
            at,
            "String should have at least 1 character",
            "string_too_short",
        ),
        FieldError::TooLong { max_chars, .. } => FieldIssue::new(
            at,
            format!("String should have at most {max_chars} characters"),
            "string_too_long",
        ),
        FieldError::ContainsNul { .. } => FieldIssue::new(
            at,
            "String should not contain the NUL character (U+0000)",
            "string_pattern_mismatch",
        ),
        FieldError::LoneSurrogate { .. } => FieldIssue::new(
            at,
            "JSON should be valid Unicode: a \\uD800-\\uDFFF escape must be half of a surrogate pair",
            "json_invalid",
        ),
        FieldError::TooDeep { max_levels, .. } => FieldIssue::new(
            at,
            format!(
                "JSON should not nest arrays and objects more than {max_levels} levels deep \
                 (events nested more than 10 levels are accepted and then rejected as \
                 validation_error; this deeper limit is refused at once)"
            ),
            "json_too_deep",
        ),
    }
}
