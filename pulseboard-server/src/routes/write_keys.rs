//! Write keys: create (shown once), list, revoke. Managed with a login token only; a write key
//! cannot manage keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pulseboard_core::{WriteKeyName, format_timestamp};
use pulseboard_store::{WriteKey, WriteKeyId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody, PathParam};
use crate::routes::events::field_issue;
use crate::write_keys;

/// Most keys one listing shows.
const MAX_KEYS_LISTED: u32 = 1_000;

#[derive(Debug, Deserialize)]
pub(super) struct NewKeyRequest {
    name: Option<Value>,
}

/// A created key: the only answer that contains the key itself.
#[derive(Debug, Serialize)]
pub(crate) struct CreatedKey {
    id: i64,
    name: String,
    write_key: String,
    created_at: String,
}

/// A key as listed: never the key itself.
#[derive(Debug, Serialize)]
pub(crate) struct KeyView {
    id: i64,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
    event_count: i64,
    revoked_at: Option<String>,
}

impl From<WriteKey> for KeyView {
    fn from(key: WriteKey) -> Self {
        Self {
            id: key.id.0,
            name: key.name,
            created_at: format_timestamp(key.created_at),
            last_used_at: key.last_used_at.map(format_timestamp),
            event_count: key.event_count,
            revoked_at: key.revoked_at.map(format_timestamp),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct KeyList {
    items: Vec<KeyView>,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(request): JsonBody<NewKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let name = parse_name(request.name.as_ref())?;
    let key = write_keys::generate().map_err(|error| {
        tracing::error!(error = %error, "write key generation failed");
        ApiError::Internal
    })?;
    let stored = state
        .store()
        .create_write_key(user.id, name.as_str(), &write_keys::hash(&key))
        .await?;
    let body = CreatedKey {
        id: stored.id.0,
        name: stored.name,
        write_key: key,
        created_at: format_timestamp(stored.created_at),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<KeyList>, ApiError> {
    let keys = state
        .store()
        .list_write_keys(Some(user.id), MAX_KEYS_LISTED)
        .await?;
    Ok(Json(KeyList {
        items: keys.into_iter().map(KeyView::from).collect(),
    }))
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    let id = id.parse::<i64>().map(WriteKeyId).map_err(|_| {
        ApiError::invalid(
            vec![json!("path"), json!("id")],
            "Input should be a valid integer",
            "int_parsing",
        )
    })?;
    if !state.store().revoke_write_key(user.id, id).await? {
        return Err(ApiError::NotFound("Write key not found"));
    }
    state.write_keys().forget_cached();
    Ok(StatusCode::NO_CONTENT)
}

fn parse_name(name: Option<&Value>) -> Result<WriteKeyName, ApiError> {
    let loc = || vec![json!("body"), json!("name")];
    match name {
        None | Some(Value::Null) => Err(ApiError::invalid(loc(), "Field required", "missing")),
        Some(Value::String(name)) => WriteKeyName::parse(name)
            .map_err(|error| ApiError::Validation(vec![field_issue(error, &[json!("body")])])),
        Some(_) => Err(ApiError::invalid(
            loc(),
            "Input should be a valid string",
            "string_type",
        )),
    }
}
