//! The analytics SDKs' protocols (DESIGN §8): Segment (and RudderStack's SDKs), PostHog capture
//! and Snowplow tracker protocol 2, next to the native API.
//!
//! Each handler finds the write key where its protocol puts it, has core map every message to
//! an event (a message that cannot become one is stored as `validation_error`, never dropped),
//! and answers what the SDKs expect: exactly 200 once the events are committed. Gzip bodies are
//! inflated by a layer (see [`routes`]) under the SDK body limit.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use pulseboard_core::NewEvent;
use pulseboard_core::protocol::{self, BodyError, Mapped};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ReadBodyError, Sender, bearer_token_of, read_body};

/// Seconds a client is asked to wait after a 503 (as on the native routes).
const RETRY_AFTER_SECS: &str = "5";

/// An error of an SDK route: `{"code", "message", "detail"}`, the shape RudderStack's SDKs read
/// and PostHog's capture service sends.
#[derive(Debug)]
pub(crate) enum SdkError {
    /// 400: the body is not readable as the protocol's envelope.
    Unreadable(String),
    /// 415: a `Content-Encoding` other than gzip (or none).
    UnsupportedEncoding,
    /// Anything the native routes can answer (401, 413, 503, 500).
    Api(ApiError),
}

impl From<ApiError> for SdkError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<BodyError> for SdkError {
    fn from(error: BodyError) -> Self {
        Self::Unreadable(error.to_string())
    }
}

impl From<pulseboard_store::StoreError> for SdkError {
    fn from(error: pulseboard_store::StoreError) -> Self {
        Self::Api(error.into())
    }
}

impl IntoResponse for SdkError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            Self::Unreadable(message) => (StatusCode::BAD_REQUEST, "invalid_body", message.clone()),
            Self::UnsupportedEncoding => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                "Content-Encoding must be gzip, or absent".to_owned(),
            ),
            Self::Api(ApiError::Unauthorized(message)) => (
                StatusCode::UNAUTHORIZED,
                "invalid_write_key",
                (*message).to_owned(),
            ),
            Self::Api(ApiError::BodyTooLarge) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "Request body exceeds the configured size limit (after inflating)".to_owned(),
            ),
            Self::Api(ApiError::RequestTimeout) => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body did not arrive in time".to_owned(),
            ),
            Self::Api(ApiError::TooManyRequests { message, .. }) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                (*message).to_owned(),
            ),
            Self::Api(ApiError::Unavailable(message)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                (*message).to_owned(),
            ),
            Self::Api(other) => (
                other.status(),
                "internal_error",
                "Internal server error".to_owned(),
            ),
        };
        let body = json!({ "code": code, "message": message, "detail": message });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Api(ApiError::TooManyRequests {
                retry_after_secs, ..
            }) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Api(ApiError::RequestTimeout) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

/// A protocol body's bytes: any or no content type, inflated if gzip. The gzip layer inflates
/// bodies sent with `Content-Encoding: gzip`; posthog-js sends gzip labelled `text/plain` with
/// no `Content-Encoding`, so a body that starts with gzip's magic bytes is inflated here, under
/// the same cap.
pub(crate) struct SdkBytes(pub Bytes);

impl FromRequest<AppState> for SdkBytes {
    type Rejection = SdkError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, state)
            .await
            .map_err(|error| match error {
                ReadBodyError::Api(error) => SdkError::Api(error),
                ReadBodyError::Unreadable(reason) => {
                    SdkError::Unreadable(format!("Could not read the request body: {reason}"))
                }
            })?;
        if bytes.starts_with(&GZIP_MAGIC) {
            let inflated = inflate(&bytes, state.limits().max_sdk_body_bytes)?;
            return Ok(Self(inflated.into()));
        }
        Ok(Self(bytes))
    }
}

/// A protocol body as JSON: [`SdkBytes`] parsed, or a form body whose `data` field holds JSON
/// or base64 of JSON (posthog-js may send `data=<base64 JSON>`).
pub(crate) struct SdkBody(pub Value);

impl FromRequest<AppState> for SdkBody {
    type Rejection = SdkError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let SdkBytes(bytes) = SdkBytes::from_request(request, state).await?;
        parse_body(&bytes).map(SdkBody)
    }
}

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Inflates a gzip body, reading at most `limit` + 1 bytes of output: a small body that
/// inflates past the limit is refused without the rest ever being produced.
fn inflate(gzip: &[u8], limit: usize) -> Result<Vec<u8>, SdkError> {
    use std::io::Read as _;
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(gzip)
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|error| SdkError::Unreadable(format!("The gzip body is corrupt: {error}")))?;
    if inflated.len() > limit {
        return Err(SdkError::Api(ApiError::BodyTooLarge));
    }
    Ok(inflated)
}

/// JSON text, or a form body whose `data` field holds JSON or base64 of JSON.
fn parse_body(bytes: &[u8]) -> Result<Value, SdkError> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(error) => form_data(bytes)
            .and_then(|text| serde_json::from_str(&text).ok())
            .ok_or_else(|| not_json(&error)),
    }
}

fn not_json(error: &dyn std::fmt::Display) -> SdkError {
    SdkError::Unreadable(format!(
        "The body is not JSON (after inflating gzip): {error}"
    ))
}

/// The JSON text of a `data=…` form field, plain or base64 (posthog-js's
/// `compression=base64`); `None` when the body is no such form.
fn form_data(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let field = text
        .split('&')
        .find_map(|pair| pair.strip_prefix("data="))?;
    let decoded = percent_decode(field)?;
    if serde_json::from_str::<serde::de::IgnoredAny>(&decoded).is_ok() {
        return Some(decoded);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(decoded.trim())
        .ok()?;
    String::from_utf8(raw).ok()
}

/// `application/x-www-form-urlencoded` decoding of one value.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                at += 2;
            }
            byte => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8(out).ok()
}

/// Stores the mapped messages for the key's owner; answers once they are committed.
async fn store(state: &AppState, sender: &Sender, mapped: Vec<Mapped>) -> Result<(), SdkError> {
    if mapped.is_empty() {
        return Ok(());
    }
    let events: Vec<NewEvent> = mapped
        .into_iter()
        .map(|message| message.unwrap_or_else(|rejection| rejection.into_event()))
        .collect();
    sender.submit(state, events).await?;
    Ok(())
}

/// The sender a write key names; 401 when it names none.
async fn sender_of(state: &AppState, key: Option<&str>) -> Result<Sender, SdkError> {
    let key = key
        .filter(|key| !key.is_empty())
        .ok_or(ApiError::Unauthorized(
            "No write key: send it as the Basic auth user name",
        ))?;
    let found = state
        .write_keys()
        .find(key)
        .await?
        .ok_or(ApiError::Unauthorized("Invalid or revoked write key"))?;
    Ok(Sender::with_key(found))
}

/// The sender of a key sent outside the body (Segment's header, Snowplow's path), checked
/// before the body is read: a wrong key gets 401, and a sender over its rate 429, without the
/// body ever being read, as on the native routes.
async fn sender_before_body(state: &AppState, key: &str) -> Result<Sender, SdkError> {
    let sender = sender_of(state, Some(key)).await?;
    sender.refuse_if_over_rate(state).await?;
    Ok(sender)
}

/// Segment's key: the Basic auth user name (password empty), else a bearer token.
fn segment_header_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let user = decoded
            .split_once(':')
            .map_or(decoded.as_str(), |(user, _)| user);
        return Some(user.to_owned());
    }
    bearer_token_of(value).map(str::to_owned)
}

/// `POST /v1/batch` and the single-message routes (`/v1/track`, …; `route_type` set). A key in
/// the `Authorization` header is checked before the body is read; without one, the body's
/// `writeKey` is used. The body is read in place: messages are mapped from slices of its text.
pub(crate) async fn segment(
    state: AppState,
    request: Request,
    route_type: Option<&'static str>,
) -> Result<Json<Value>, SdkError> {
    let header_sender = match segment_header_key(request.headers()) {
        Some(key) => Some(sender_before_body(&state, &key).await?),
        None => None,
    };
    let SdkBytes(bytes) = SdkBytes::from_request(request, &state).await?;
    let form_text;
    let body = match segment_body(&bytes, route_type) {
        Err(BodyError::NotJson(error)) => {
            form_text = form_data(&bytes).ok_or_else(|| not_json(&error))?;
            protocol::segment::parse(&form_text, route_type)?
        }
        read => read?,
    };
    let sender = match header_sender {
        Some(sender) => sender,
        None => sender_of(&state, body.write_key()).await?,
    };
    let mapped = body
        .messages()
        .iter()
        .map(|message| protocol::segment::to_event(message, route_type))
        .collect();
    drop(body);
    store(&state, &sender, mapped).await?;
    Ok(Json(json!({ "success": true })))
}

/// A Segment body read from its bytes, which must be UTF-8 JSON text.
fn segment_body<'a>(
    bytes: &'a [u8],
    route_type: Option<&str>,
) -> Result<protocol::segment::Body<'a>, BodyError> {
    let text = std::str::from_utf8(bytes).map_err(|error| BodyError::NotJson(error.to_string()))?;
    protocol::segment::parse(text, route_type)
}

/// Every PostHog capture route: `/batch`, `/capture`, `/e`, `/i/v0/e`, with or without `/`.
pub(crate) async fn posthog(
    State(state): State<AppState>,
    SdkBody(body): SdkBody,
) -> Result<Json<Value>, SdkError> {
    let key = protocol::posthog::body_api_key(&body).map(str::to_owned);
    let messages = protocol::posthog::messages(body)?;
    // A legacy `{"data": …}` body carries the key inside the encoded events.
    let key = key.or_else(|| protocol::posthog::messages_api_key(&messages).map(str::to_owned));
    let sender = sender_of(&state, key.as_deref()).await?;
    let mapped = messages.iter().map(protocol::posthog::to_event).collect();
    store(&state, &sender, mapped).await?;
    Ok(Json(json!({ "status": 1 })))
}

/// `POST /s/{write_key}/com.snowplowanalytics.snowplow/tp2`: the key is in the path, since
/// Snowplow trackers send no credentials.
pub(crate) async fn snowplow(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<&'static str, SdkError> {
    // A key that does not even decode is no key: 401 like any unknown one.
    let key = key.map(|Path(key)| key).unwrap_or_default();
    let sender = sender_before_body(&state, &key).await?;
    let SdkBody(body) = SdkBody::from_request(request, &state).await?;
    let messages = protocol::snowplow::messages(body)?;
    let mapped = messages.iter().map(protocol::snowplow::to_event).collect();
    store(&state, &sender, mapped).await?;
    Ok("ok")
}

/// tower-http's decompression layer refuses an unknown `Content-Encoding` with a bare 415;
/// this gives that answer the SDK routes' error body.
pub(crate) async fn explain_unsupported_encoding(response: Response) -> Response {
    let bare = response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
        && !response.headers().contains_key(header::CONTENT_TYPE);
    if bare {
        SdkError::UnsupportedEncoding.into_response()
    } else {
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_bodies_inflate_up_to_the_limit_and_no_further() {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[b' '; 10_000]).unwrap();
        let gzip = encoder.finish().unwrap();
        assert_eq!(inflate(&gzip, 10_000).unwrap().len(), 10_000);
        assert!(matches!(
            inflate(&gzip, 9_999),
            Err(SdkError::Api(ApiError::BodyTooLarge))
        ));
        assert!(matches!(
            inflate(&gzip[..gzip.len() / 2], 10_000),
            Err(SdkError::Unreadable(_))
        ));
    }

    #[test]
    fn form_bodies_carry_json_plain_or_in_base64() {
        assert_eq!(form_data(b"data=%7B%22a%22%3A1%7D").unwrap(), r#"{"a":1}"#);
        assert_eq!(
            form_data(b"ver=1&data=eyJhIjoxfQ%3D%3D").unwrap(),
            r#"{"a":1}"#
        );
        assert_eq!(
            parse_body(b"data=eyJhIjoxfQ%3D%3D").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(form_data(b"data=%zz"), None);
        assert_eq!(form_data(b"nothing=here"), None);
    }

    #[test]
    fn segment_keys_come_from_basic_auth_or_a_bearer_token() {
        let mut headers = HeaderMap::new();
        // base64("pbwk_abc:")
        headers.insert(header::AUTHORIZATION, "Basic cGJ3a19hYmM6".parse().unwrap());
        assert_eq!(segment_header_key(&headers).as_deref(), Some("pbwk_abc"));
        headers.insert(header::AUTHORIZATION, "Bearer pbwk_xyz".parse().unwrap());
        assert_eq!(segment_header_key(&headers).as_deref(), Some("pbwk_xyz"));
        headers.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(segment_header_key(&headers), None);
    }
}
