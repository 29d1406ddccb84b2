//! Request extractors: JSON bodies with the API's error contract, and the authenticated caller.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use pulseboard_core::NewEvent;
use pulseboard_store::{UserId, WriteKey};

use crate::ingest::Accepted;
use crate::throttle::{SenderId, refuse_over_rate};
use crate::write_keys::looks_like_write_key;

/// A JSON request body. Accepts `application/json` and `*/*+json`; also a body with no content
/// type or curl's default `application/x-www-form-urlencoded` (the seed guide's `curl -d` calls
/// rely on it), as long as it parses as JSON. Anything else is 415; over the limit is 413;
/// unparseable JSON is 422 `json_invalid`.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !accepts_as_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(request, state)
            .await
            .map_err(|error| match error {
                ReadBodyError::Api(error) => error,
                ReadBodyError::Unreadable(_) => ApiError::invalid(
                    vec![json!("body")],
                    "Could not read the request body",
                    "body_unreadable",
                ),
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(json_error)
    }
}

/// Why a body could not be read.
pub(crate) enum ReadBodyError {
    /// Too large (413) or too slow (408).
    Api(ApiError),
    /// The connection failed mid-body; the text says how.
    Unreadable(String),
}

/// The whole request body, within the size limit and the body read timeout. A client that
/// trickles its body gets 408 and its connection closed, however steadily it trickles.
pub(crate) async fn read_body(request: Request, state: &AppState) -> Result<Bytes, ReadBodyError> {
    let timeout = state.limits().body_read_timeout;
    match tokio::time::timeout(timeout, Bytes::from_request(request, state)).await {
        Err(_elapsed) => {
            state.metrics().connections_timed_out.inc_by(1);
            Err(ReadBodyError::Api(ApiError::RequestTimeout))
        }
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ReadBodyError::Api(ApiError::BodyTooLarge))
        }
        Ok(Err(rejection)) => Err(ReadBodyError::Unreadable(rejection.body_text())),
    }
}

fn accepts_as_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/x-www-form-urlencoded"
}

fn json_error(error: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => ApiError::invalid(vec![json!("body")], error.to_string(), "model_type"),
        Category::Syntax | Category::Eof | Category::Io => ApiError::invalid(
            vec![json!("body"), json!(error.column())],
            format!("JSON decode error: {error}"),
            "json_invalid",
        ),
    }
}

/// The caller, proven by a valid bearer token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthUser {
    /// The caller's id.
    pub id: UserId,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized("Not authenticated"))?;
        let id = state
            .tokens()
            .verify(token)
            .ok_or(ApiError::Unauthorized("Could not validate credentials"))?;
        if !state.user_exists(id).await? {
            return Err(ApiError::Unauthorized("Could not validate credentials"));
        }
        Ok(Self { id })
    }
}

/// Who sends events: a logged-in user (bearer JWT) or a write key (bearer `pbwk_…`). Only the
/// ingest routes take it; every read route takes [`AuthUser`], so a write key reads nothing.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    /// Whose events they become.
    pub owner: UserId,
    /// The key they came with, if any.
    pub key: Option<WriteKey>,
}

impl Sender {
    /// The sender of a write key.
    pub(crate) fn with_key(key: WriteKey) -> Self {
        Self {
            owner: key.owner,
            key: Some(key),
        }
    }

    /// `events` with the key's name as `source` where they name none.
    fn label(&self, events: Vec<NewEvent>) -> Vec<NewEvent> {
        match &self.key {
            Some(key) => events
                .into_iter()
                .map(|event| event.with_default_source(&key.name))
                .collect(),
            None => events,
        }
    }

    /// Who the rate limit counts this sender as: its key, or its user.
    fn rate_id(&self) -> SenderId {
        match &self.key {
            Some(key) => SenderId::Key(key.id),
            None => SenderId::User(self.owner),
        }
    }

    /// Stores `events` as this sender's, within its rate: labels them with the key's name,
    /// answers 429 when the sender is over its rate, and counts what a key stored. Its span
    /// carries the owner and, once stored, the task id and the first event id, the ids the
    /// worker's job span and lines carry too.
    #[tracing::instrument(
        name = "ingest",
        skip_all,
        fields(owner = self.owner.0, events = events.len(), task_id, event_id)
    )]
    pub(crate) async fn submit(
        &self,
        state: &AppState,
        events: Vec<NewEvent>,
    ) -> Result<Accepted, ApiError> {
        if let Err(wait) = state.sender_rates().admit(self.rate_id(), events.len()) {
            return Err(refuse_over_rate(state, wait).await);
        }
        let accepted = state
            .ingest()
            .submit(self.owner, self.label(events))
            .await?;
        let span = tracing::Span::current();
        span.record("task_id", accepted.task_id.as_str());
        if let Some(first) = accepted.event_ids.first() {
            span.record("event_id", first.0);
        }
        if let Some(key) = &self.key {
            state.write_keys().record_use(key.id, accepted.stored());
        }
        Ok(accepted)
    }

    /// 429 when this sender is over its rate already. Checked before a request's body is read
    /// or parsed, so a flood costs the server as little as possible.
    pub(crate) async fn refuse_if_over_rate(&self, state: &AppState) -> Result<(), ApiError> {
        match state.sender_rates().check(self.rate_id()) {
            Ok(()) => Ok(()),
            Err(wait) => Err(refuse_over_rate(state, wait).await),
        }
    }

    /// The sender a bearer token names: a write key, or a logged-in user.
    async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer_token(parts) {
            Some(token) if looks_like_write_key(token) => {
                let key = state
                    .write_keys()
                    .find(token)
                    .await?
                    .ok_or(ApiError::Unauthorized("Invalid or revoked write key"))?;
                Ok(Self::with_key(key))
            }
            _ => {
                let user = AuthUser::from_request_parts(parts, state).await?;
                Ok(Self {
                    owner: user.id,
                    key: None,
                })
            }
        }
    }
}

impl FromRequestParts<AppState> for Sender {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let sender = Self::authenticate(parts, state).await?;
        sender.refuse_if_over_rate(state).await?;
        Ok(sender)
    }
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer_token_of(parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token of an `Authorization` header value `Bearer …`.
pub(crate) fn bearer_token_of(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|token| !token.is_empty())
}

/// Query parameters, with the API's error contract: a query that does not fit `T` (a repeated
/// parameter, a parameter that is not valid UTF-8 once decoded) is 422 naming the query,
/// where axum's own `Query` would answer 400 in plain text.
pub(crate) struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(query)| Self(query))
            .map_err(|rejection| {
                ApiError::invalid(vec![json!("query")], rejection.body_text(), "query_invalid")
            })
    }
}

/// One path parameter as text, with the API's error contract: a segment that does not decode
/// to UTF-8 is 422 naming the path, where axum's own `Path` would answer 400 in plain text.
pub(crate) struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection| {
                ApiError::invalid(vec![json!("path")], rejection.body_text(), "path_invalid")
            })
    }
}
