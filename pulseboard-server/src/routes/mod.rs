//! The router: every route of the API, the fallbacks, and per-route request counting.

mod auth;
mod events;
mod export;
mod health;
mod list_query;
mod replay;
mod sdk;
mod write_keys;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;

use crate::AppState;
use crate::error::ApiError;

pub(crate) use events::{EventView, parse_event_id};
pub(crate) use list_query::MAX_PAGE;

/// The whole HTTP API over `state`.
pub fn app(state: AppState) -> Router {
    let limits = state.limits();
    Router::new()
        .route("/api/auth/register", post(auth::register))
        .route("/api/auth/login", post(auth::login))
        .merge(native_ingest_routes())
        .route("/api/v1/events/replay", post(replay::replay))
        .route("/dashboard/api/replay", post(replay::replay_for_operator))
        .route("/api/v1/events/export", get(export::export))
        .route("/api/v1/events/{id}", get(events::get_one))
        .route(
            "/api/v1/write-keys",
            post(write_keys::create).get(write_keys::list),
        )
        .route("/api/v1/write-keys/{id}", delete(write_keys::revoke))
        .merge(sdk_routes(limits.max_sdk_body_bytes))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(crate::openapi::document))
        .merge(crate::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// The native ingest routes (and the listing that shares a path): open to pages of any origin,
/// since a write key sent from a page can only write.
fn native_ingest_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/events",
            post(events::submit).get(events::list).options(preflight),
        )
        .route(
            "/api/v1/events/batch",
            post(events::submit_batch).options(preflight),
        )
        .layer(any_origin())
}

/// The SDK protocol routes (DESIGN §8): gzip inflated under `max_body_bytes`, any or no
/// content type, any origin.
fn sdk_routes(max_body_bytes: usize) -> Router<AppState> {
    let segment = |route_type: Option<&'static str>| {
        post(
            move |State(state): State<AppState>, request: axum::extract::Request| {
                sdk::segment(state, request, route_type)
            },
        )
        .options(preflight)
    };
    let mut router = Router::new().route("/v1/batch", segment(None)).route(
        "/s/{write_key}/com.snowplowanalytics.snowplow/tp2",
        post(sdk::snowplow).options(preflight),
    );
    for route_type in ["track", "page", "screen", "identify", "group", "alias"] {
        router = router.route(&format!("/v1/{route_type}"), segment(Some(route_type)));
    }
    // PostHog's SDKs post to `/batch/`; axum treats `/batch` and `/batch/` as two routes.
    for path in ["/batch", "/capture", "/e", "/i/v0/e"] {
        router = router
            .route(path, post(sdk::posthog).options(preflight))
            .route(&format!("{path}/"), post(sdk::posthog).options(preflight));
    }
    // Layers run outside in: CORS, then inflating `Content-Encoding: gzip`; the body limit is
    // checked while the handler reads the inflated body, so a zip bomb stops at the limit.
    // (Gzip without the header, as posthog-js sends it, is inflated by `SdkBytes`.)
    router
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestDecompressionLayer::new())
        .layer(middleware::map_response(sdk::explain_unsupported_encoding))
        .layer(any_origin())
}

/// OPTIONS on a route pages post to. The CORS layer answers real preflights before this runs;
/// the route must list OPTIONS, or the API's 405 fallback (which no route layer wraps) would.
async fn preflight() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

/// CORS for routes pages may post to: any origin, any request headers, no cookies.
fn any_origin() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(std::time::Duration::from_secs(24 * 60 * 60))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("Not Found")
}

async fn method_not_allowed() -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(serde_json::json!({ "detail": "Method Not Allowed" })),
    )
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics()
        .count_request(&route, response.status().as_u16());
    response
}
