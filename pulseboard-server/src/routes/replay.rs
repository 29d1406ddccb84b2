//! `POST /api/v1/events/replay`: send the caller's failed or rejected events through
//! processing again, once the rules or the store were fixed.

use axum::Json;
use axum::extract::State;
use pulseboard_core::EventStatus;
use pulseboard_store::{EventId, ReplaySelection, UserId};
use pulseboard_worker::{ProcessEvents, new_task_id};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::dashboard::Operator;
use crate::error::{ApiError, FieldIssue};
use crate::extract::{AuthUser, JsonBody};

/// Most ids one request names.
const MAX_IDS: usize = 1_000;
/// Events per job, and per store round.
const JOB_EVENTS: u32 = 500;
/// Most events one request replays; the answer says how many, so a client repeats for more.
const MAX_REPLAYED: usize = 100_000;

#[derive(Debug, Deserialize)]
pub(super) struct ReplayRequest {
    ids: Option<Value>,
    status: Option<Value>,
    created_from: Option<Value>,
    created_until: Option<Value>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Replayed {
    replayed: usize,
}

pub(crate) async fn replay(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(request): JsonBody<ReplayRequest>,
) -> Result<Json<Replayed>, ApiError> {
    let selection = parse_selection(&request).map_err(ApiError::Validation)?;
    let replayed = replay_selected(&state, Some(user.id), &selection).await?;
    Ok(Json(Replayed { replayed }))
}

/// The dashboard's replay: the same, over every user's events.
pub(crate) async fn replay_for_operator(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ReplayRequest>,
) -> Result<Json<Replayed>, ApiError> {
    let selection = parse_selection(&request).map_err(ApiError::Validation)?;
    let replayed = replay_selected(&state, None, &selection).await?;
    Ok(Json(Replayed { replayed }))
}

/// Replays what `selection` names of `owner`'s events (every user's with `None`), a job of up
/// to 500 at a time; how many.
async fn replay_selected(
    state: &AppState,
    owner: Option<UserId>,
    selection: &ReplaySelection,
) -> Result<usize, ApiError> {
    let mut replayed = 0;
    while replayed < MAX_REPLAYED {
        // Made before the events are touched, as for every job (see the recovery sweep).
        let task_id = new_task_id();
        let ids = state
            .store()
            .replay_events(owner, selection, JOB_EVENTS)
            .await?;
        replayed += ids.len();
        let more = ids.len() == JOB_EVENTS as usize && selection.ids.is_none();
        if !ids.is_empty() {
            let job = ProcessEvents {
                event_ids: ids.iter().map(|id| id.0).collect(),
            };
            if let Err(error) = state.queue().push(task_id, job).await {
                // The events are `enqueued` in the store: the recovery sweep takes them.
                tracing::warn!(task.id = %task_id, error = %error, "replay push failed; the recovery sweep will enqueue these events");
            }
        }
        if !more {
            break;
        }
    }
    Ok(replayed)
}

fn parse_selection(request: &ReplayRequest) -> Result<ReplaySelection, Vec<FieldIssue>> {
    let mut issues = Vec::new();
    let mut issue = |field: &str, msg: String, kind: &'static str| {
        issues.push(FieldIssue::new(
            vec![json!("body"), json!(field)],
            msg,
            kind,
        ));
    };
    let ids = match &request.ids {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if (1..=MAX_IDS).contains(&items.len()) => {
            let parsed: Option<Vec<EventId>> =
                items.iter().map(|id| id.as_i64().map(EventId)).collect();
            if parsed.is_none() {
                issue(
                    "ids",
                    "Every id should be an integer".to_owned(),
                    "int_type",
                );
            }
            parsed
        }
        Some(_) => {
            issue(
                "ids",
                format!("Input should be a list of 1 to {MAX_IDS} event ids"),
                "list_type",
            );
            None
        }
    };
    let replayable: Vec<&str> = EventStatus::replay_sources()
        .into_iter()
        .map(EventStatus::as_str)
        .collect();
    let status = match &request.status {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match text.parse::<EventStatus>() {
            Ok(status) if status.is_replayable() => Some(status),
            _ => {
                issue(
                    "status",
                    format!("Input should be one of {}", replayable.join(", ")),
                    "enum",
                );
                None
            }
        },
        Some(_) => {
            issue(
                "status",
                format!("Input should be one of {}", replayable.join(", ")),
                "enum",
            );
            None
        }
    };
    let mut time = |field: &str, value: &Option<Value>| match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&chrono::Utc))
            .map_err(|_| bad_time(&mut issue, field))
            .ok(),
        Some(_) => {
            bad_time(&mut issue, field);
            None
        }
    };
    let created_from = time("created_from", &request.created_from);
    let created_until = time("created_until", &request.created_until);
    if request.ids.as_ref().is_none_or(Value::is_null)
        && request.status.as_ref().is_none_or(Value::is_null)
    {
        issues.push(FieldIssue::new(
            vec![json!("body")],
            "Name the events to replay: `ids`, or a `status` (with optional created_from / created_until)",
            "missing",
        ));
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(ReplaySelection {
        ids,
        status,
        created_from,
        created_until,
    })
}

fn bad_time(issue: &mut impl FnMut(&str, String, &'static str), field: &str) {
    issue(
        field,
        "Input should be an RFC 3339 timestamp, e.g. 2025-12-18T10:30:00Z".to_owned(),
        "datetime_parsing",
    );
}
