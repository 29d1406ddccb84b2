//! `GET /api/v1/events/export`: the caller's events as NDJSON (or CSV with `?format=csv`),
//! newest first, with the listing's filters, streamed a page at a time so memory stays flat
//! however many events there are.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use pulseboard_core::format_timestamp;
use pulseboard_store::{EventFilter, EventStore, StoredEvent, UserId};
use serde::Deserialize;
use serde_json::json;

use super::EventView;
use super::list_query::ListQuery;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AuthUser, QueryParams};

/// Events read from the store per round: what the export holds in memory at once.
const PAGE: u32 = 1_000;

/// The columns of the CSV export; JSON fields (payload, properties, context) as JSON text.
const CSV_COLUMNS: [&str; 18] = [
    "id",
    "task_id",
    "event_name",
    "event_type",
    "source",
    "session_id",
    "status",
    "attempts",
    "created_at",
    "processed_at",
    "processing_error",
    "message_id",
    "user_id",
    "anonymous_id",
    "occurred_at",
    "payload",
    "properties",
    "context",
];

#[derive(Debug, Deserialize)]
pub(super) struct ExportQuery {
    format: Option<String>,
    #[serde(flatten)]
    filter: ListQuery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Csv,
}

pub(crate) async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    QueryParams(query): QueryParams<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = match query.format.as_deref() {
        None | Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(_) => {
            return Err(ApiError::invalid(
                vec![json!("query"), json!("format")],
                "Input should be one of ndjson, csv",
                "enum",
            ));
        }
    };
    let mut filter = EventFilter::try_from(query.filter)?;
    filter.limit = PAGE;
    let (content_type, file) = match format {
        Format::Ndjson => ("application/x-ndjson", "events.ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "events.csv"),
    };
    let body = Body::from_stream(pages(state.shared_store(), user.id, filter, format));
    let disposition = format!("attachment; filename=\"{file}\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Where an export stands between two pages.
struct Cursor {
    store: Arc<dyn EventStore>,
    owner: UserId,
    filter: EventFilter,
    format: Format,
    header_sent: bool,
    done: bool,
}

/// The export's body: one chunk per page of events, keyset-paged by id. A store error ends the
/// stream with an error, so the client sees a cut transfer rather than a short file.
fn pages(
    store: Arc<dyn EventStore>,
    owner: UserId,
    filter: EventFilter,
    format: Format,
) -> impl Stream<Item = Result<Bytes, ApiError>> + Send + 'static {
    let cursor = Cursor {
        store,
        owner,
        filter,
        format,
        header_sent: false,
        done: false,
    };
    stream::unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return None;
        }
        let mut chunk = String::new();
        if cursor.format == Format::Csv && !cursor.header_sent {
            chunk.push_str(&CSV_COLUMNS.join(","));
            chunk.push_str("\r\n");
            cursor.header_sent = true;
        }
        let page = match cursor.store.list_events(cursor.owner, &cursor.filter).await {
            Ok(page) => page,
            Err(error) => {
                cursor.done = true;
                return Some((Err(ApiError::from(error)), cursor));
            }
        };
        cursor.done = page.len() < cursor.filter.limit as usize;
        cursor.filter.before_id = page.last().map(|event| event.id);
        for event in page {
            match cursor.format {
                Format::Ndjson => ndjson_line(&mut chunk, event),
                Format::Csv => csv_row(&mut chunk, event),
            }
        }
        Some((Ok(Bytes::from(chunk)), cursor))
    })
}

/// The event resource, one per line.
fn ndjson_line(out: &mut String, event: StoredEvent) {
    match serde_json::to_string(&EventView::from(event)) {
        Ok(line) => {
            out.push_str(&line);
            out.push('\n');
        }
        Err(error) => tracing::error!(error = %error, "an event did not serialize"),
    }
}

fn csv_row(out: &mut String, event: StoredEvent) {
    let time = |time: Option<chrono::DateTime<chrono::Utc>>| time.map(format_timestamp);
    let fields: [Option<String>; 18] = [
        Some(event.id.0.to_string()),
        Some(event.task_id),
        Some(event.event_name),
        Some(event.event_type),
        event.source,
        event.session_id,
        Some(event.status.as_str().to_owned()),
        Some(event.attempts.to_string()),
        Some(format_timestamp(event.created_at)),
        time(event.processed_at),
        event.processing_error,
        event.message_id,
        event.client_user_id,
        event.anonymous_id,
        time(event.occurred_at),
        Some(event.payload_json),
        event.properties_json,
        event.context_json,
    ];
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        csv_field(out, field.as_deref().unwrap_or(""));
    }
    out.push_str("\r\n");
}

/// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
fn csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        let mut out = String::new();
        for field in ["plain", "a,b", r#"{"a":"x"}"#, "two\nlines"] {
            csv_field(&mut out, field);
            out.push('|');
        }
        assert_eq!(
            out,
            "plain|\"a,b\"|\"{\"\"a\"\":\"\"x\"\"}\"|\"two\nlines\"|"
        );
    }
}
