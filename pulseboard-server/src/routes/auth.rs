//! `POST /api/auth/register` and `POST /api/auth/login`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pulseboard_core::account::{self, PasswordRuleError};
use pulseboard_core::format_timestamp;
use pulseboard_store::NewUser;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, FieldIssue};
use crate::extract::JsonBody;
use crate::throttle::{ClientAddress, LoginAttempt};

/// Registration body.
#[derive(Debug, Deserialize)]
pub(super) struct RegisterRequest {
    email: Option<String>,
    password: Option<String>,
    full_name: Option<String>,
}

/// A registered user.
#[derive(Debug, Serialize)]
pub(super) struct UserView {
    id: i64,
    email: String,
    full_name: Option<String>,
    created_at: String,
}

/// Login body.
#[derive(Debug, Deserialize)]
pub(super) struct LoginRequest {
    email: Option<String>,
    password: Option<String>,
}

/// A bearer token.
#[derive(Debug, Serialize)]
pub(super) struct TokenView {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

pub(crate) async fn register(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let (email, password) = check_registration(&request)?;
    let password_hash = state.passwords().hash(password.to_owned()).await?;
    let user = NewUser {
        email: email.to_owned(),
        password_hash,
        full_name: request.full_name.clone(),
    };
    let created = state.store().create_user(&user).await?;
    let view = UserView {
        id: created.id.0,
        email: created.email,
        full_name: created.full_name,
        created_at: format_timestamp(created.created_at),
    };
    Ok((StatusCode::CREATED, Json(view)))
}

pub(crate) async fn login(
    State(state): State<AppState>,
    address: ClientAddress,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Json<TokenView>, ApiError> {
    let (Some(email), Some(password)) = (request.email, request.password) else {
        return Err(ApiError::Validation(missing_credentials()));
    };
    // Before any lookup or hash: a throttled attempt costs the server almost nothing.
    let attempt = LoginAttempt::begin(&state, &email, address).await?;
    let user = state.store().find_user_by_email(email.trim()).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    // Unknown users are verified against a dummy hash: same answer, same cost.
    let valid = state.passwords().verify(password, stored_hash).await?;
    let Some(user) = user.filter(|_| valid) else {
        return Err(ApiError::Unauthorized("Incorrect email or password"));
    };
    attempt.succeeded(&state).await?;
    let access_token = state.tokens().issue(user.id)?;
    Ok(Json(TokenView {
        access_token,
        token_type: "bearer",
        expires_in: state.tokens().lifetime().as_secs(),
    }))
}

/// The registration's email and password, or every rule they break (core's rules, in the
/// API's 422 shape).
fn check_registration(request: &RegisterRequest) -> Result<(&str, &str), ApiError> {
    let mut issues = Vec::new();
    let mut issue = |field: &str, message: String, kind: &'static str| {
        issues.push(FieldIssue::new(
            vec![json!("body"), json!(field)],
            message,
            kind,
        ));
    };
    let email = request.email.as_deref().map(str::trim);
    match email.map(account::check_email) {
        None => issue("email", "Field required".to_owned(), "missing"),
        Some(Err(reason)) => issue(
            "email",
            format!("value is not a valid email address: {reason}"),
            "value_error",
        ),
        Some(Ok(())) => {}
    }
    match request.password.as_deref().map(account::check_password) {
        None => issue("password", "Field required".to_owned(), "missing"),
        Some(Err(rule)) => {
            let kind = match rule {
                PasswordRuleError::TooShort => "string_too_short",
                PasswordRuleError::TooLong => "string_too_long",
            };
            issue("password", rule.to_string(), kind);
        }
        Some(Ok(())) => {}
    }
    if let Some(Err(too_long)) = request.full_name.as_deref().map(account::check_full_name) {
        issue("full_name", too_long.to_string(), "string_too_long");
    }
    match (email, request.password.as_deref()) {
        (Some(email), Some(password)) if issues.is_empty() => Ok((email, password)),
        _ => Err(ApiError::Validation(issues)),
    }
}

fn missing_credentials() -> Vec<FieldIssue> {
    vec![FieldIssue::new(
        vec![json!("body")],
        "Both email and password are required",
        "missing",
    )]
}
