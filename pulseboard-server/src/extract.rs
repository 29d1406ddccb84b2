//! Request extractors: JSON bodies with the API's error contract, and the authenticated caller.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use pulseboard_store::UserId;

/// A JSON request body. Accepts `application/json` and `*/*+json`; also a body with no content
/// type or curl's default `application/x-www-form-urlencoded` (the seed guide's `curl -d` calls
/// rely on it), as long as it parses as JSON. Anything else is 415; over the limit is 413;
/// unparseable JSON is 422 `json_invalid`.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !accepts_as_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BodyTooLarge
                } else {
                    ApiError::invalid(
                        vec![json!("body")],
                        "Could not read the request body",
                        "body_unreadable",
                    )
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(json_error)
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

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|token| !token.is_empty())
}
