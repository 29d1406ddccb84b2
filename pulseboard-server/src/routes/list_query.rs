//! The listing's query parameters (`GET /api/v1/events` and the export) and the store filter
//! they describe.

use pulseboard_core::EventStatus;
use pulseboard_store::{EventFilter, EventId};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, FieldIssue};

/// Default and largest page sizes of the listing.
const DEFAULT_PAGE: u32 = 50;
pub(crate) const MAX_PAGE: u32 = 500;

/// Query parameters of the listing; all optional, all strings so errors can name the parameter.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    event_name: Option<String>,
    message_id: Option<String>,
    created_from: Option<String>,
    created_until: Option<String>,
    before_id: Option<String>,
    limit: Option<String>,
}

impl TryFrom<ListQuery> for EventFilter {
    type Error = ApiError;

    /// The filter the parameters describe, or a 422 naming every parameter at fault.
    fn try_from(query: ListQuery) -> Result<Self, Self::Error> {
        let mut issues = Vec::new();
        let mut issue = |name: &str, msg: &str, kind: &'static str| {
            issues.push(FieldIssue::new(
                vec![json!("query"), json!(name)],
                msg,
                kind,
            ));
        };
        let status = query.status.as_deref().and_then(|text| {
            text.parse::<EventStatus>()
                .map_err(|_| {
                    issue(
                        "status",
                        &format!("Input should be one of {}", EventStatus::names()),
                        "enum",
                    )
                })
                .ok()
        });
        let mut time = |name: &str, value: Option<&str>| {
            value.and_then(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|time| time.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        issue(
                            name,
                            "Input should be an RFC 3339 timestamp, e.g. 2025-12-18T10:30:00Z",
                            "datetime_parsing",
                        )
                    })
                    .ok()
            })
        };
        let created_from = time("created_from", query.created_from.as_deref());
        let created_until = time("created_until", query.created_until.as_deref());
        let before_id = query.before_id.as_deref().and_then(|text| {
            text.parse::<i64>()
                .map(EventId)
                .map_err(|_| {
                    issue(
                        "before_id",
                        "Input should be a valid integer",
                        "int_parsing",
                    )
                })
                .ok()
        });
        let limit = match query.limit.as_deref().map(str::parse::<u32>) {
            None => DEFAULT_PAGE,
            Some(Ok(limit)) if (1..=MAX_PAGE).contains(&limit) => limit,
            Some(_) => {
                issue(
                    "limit",
                    &format!("Input should be an integer from 1 to {MAX_PAGE}"),
                    "less_than_equal",
                );
                DEFAULT_PAGE
            }
        };
        if !issues.is_empty() {
            return Err(ApiError::Validation(issues));
        }
        Ok(EventFilter {
            status,
            event_name: query.event_name,
            message_id: query.message_id,
            created_from,
            created_until,
            before_id,
            limit,
        })
    }
}
