//! `POST /api/auth/register` and `POST /api/auth/login`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pulseboard_core::format_timestamp;
use pulseboard_store::NewUser;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, FieldIssue};
use crate::extract::JsonBody;
use crate::throttle::{ClientAddress, LoginAttempt};

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in bytes (bounds the hashing work per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;

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

fn check_registration(request: &RegisterRequest) -> Result<(&str, &str), ApiError> {
    let mut issues = Vec::new();
    let email = request.email.as_deref().map(str::trim);
    match email {
        None => issues.push(FieldIssue::new(
            vec![json!("body"), json!("email")],
            "Field required",
            "missing",
        )),
        Some(email) => {
            if let Err(reason) = check_email(email) {
                let message = format!("value is not a valid email address: {reason}");
                issues.push(FieldIssue::new(
                    vec![json!("body"), json!("email")],
                    message,
                    "value_error",
                ));
            }
        }
    }
    match request.password.as_deref() {
        None => issues.push(FieldIssue::new(
            vec![json!("body"), json!("password")],
            "Field required",
            "missing",
        )),
        Some(password) if password.chars().count() < MIN_PASSWORD_CHARS => {
            issues.push(FieldIssue::new(
                vec![json!("body"), json!("password")],
                format!("String should have at least {MIN_PASSWORD_CHARS} characters"),
                "string_too_short",
            ))
        }
        Some(password) if password.len() > MAX_PASSWORD_BYTES => issues.push(FieldIssue::new(
            vec![json!("body"), json!("password")],
            format!("String should have at most {MAX_PASSWORD_BYTES} characters"),
            "string_too_long",
        )),
        Some(_) => {}
    }
    if request
        .full_name
        .as_deref()
        .is_some_and(|name| name.chars().count() > 255)
    {
        issues.push(FieldIssue::new(
            vec![json!("body"), json!("full_name")],
            "String should have at most 255 characters",
            "string_too_long",
        ));
    }
    match (email, request.password.as_deref()) {
        (Some(email), Some(password)) if issues.is_empty() => Ok((email, password)),
        _ => Err(ApiError::Validation(issues)),
    }
}

/// A deliberately simple syntax check: one `@`, a non-empty local part, a dotted domain, no spaces.
fn check_email(email: &str) -> Result<(), &'static str> {
    if email.len() > 254 {
        return Err("it is longer than 254 characters");
    }
    if email.chars().any(char::is_whitespace) {
        return Err("it contains whitespace");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("an email address must have an @-sign");
    };
    if local.is_empty() || domain.contains('@') {
        return Err("there must be exactly one @-sign with something before it");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|label| label.is_empty()) {
        return Err("the part after the @-sign is not a valid domain name");
    }
    Ok(())
}

fn missing_credentials() -> Vec<FieldIssue> {
    vec![FieldIssue::new(
        vec![json!("body")],
        "Both email and password are required",
        "missing",
    )]
}
