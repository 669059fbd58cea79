//! The API's one error type: each variant maps to a status code and a JSON
//! body `{ "error": code, "message": ..., "field": path }`. Internal errors
//! are logged and their text is never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("missing or unknown credentials")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// The caller's role in an environment is below what the write needs
    /// there (403 `forbidden`; the body names `role` and `environment`).
    #[error("this needs the {} role in `{environment}`; you have {} there", role.as_str(), has.as_str())]
    ForbiddenIn {
        role: crate::auth::Role,
        environment: String,
        has: crate::auth::Role,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("this write needs an If-Match header with the version you read")]
    PreconditionRequired,
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Unavailable(String),
    /// What was asked for is no longer kept (a compacted change-log range).
    #[error("{0}")]
    Gone(String),
    /// The environment is in a freeze window: only the kill switch goes
    /// through (423 `frozen`).
    #[error("{0}")]
    Frozen(String),
    /// The environment requires approvals: the change must go through a
    /// change request (409 `approval_required`).
    #[error("{0}")]
    ApprovalRequired(String),
    /// A write to a part of a flag's config a flags-as-code file manages
    /// (409 `owned_by_file`; `field` names the part, the message the file).
    #[error("`{field}` is managed by {file}: change it there and run `daylight apply`")]
    OwnedByFile { file: String, field: String },
    /// A write to what a running or paused release plan moves: the
    /// fallthrough, or its rule, in its environment (409 `owned_by_release`;
    /// `field` names the part).
    #[error(
        "`{field}` is moved by release plan {plan}: use the plan (next stage, pause, roll back), or roll it back first"
    )]
    OwnedByRelease { plan: i64, field: String },
    /// A destructive write to something still in use needs it confirmed
    /// (409 `confirmation_required`).
    #[error("{0}")]
    ConfirmationRequired(String),
    /// Over a per-key limit; the response carries `Retry-After` (seconds).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("internal error")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The JSON body of every API error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: `invalid`, `malformed_json`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `precondition_required`, `too_large`, …
    pub error: String,
    pub message: String,
    /// The path of the offending field, e.g. `rules[2].clauses[0].values[1]`.
    pub field: Option<String>,
    /// With a 403 for want of a role in one environment: the role needed there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::auth::Role>,
    /// With a 403 for want of a role in one environment: that environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code: "invalid",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code,
            message: message.into(),
            field: None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::ForbiddenIn { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Frozen(_) => StatusCode::LOCKED,
            ApiError::ApprovalRequired(_) => StatusCode::CONFLICT,
            ApiError::ConfirmationRequired(_) => StatusCode::CONFLICT,
            ApiError::OwnedByFile { .. } | ApiError::OwnedByRelease { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) | ApiError::ForbiddenIn { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionRequired => "precondition_required",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Gone(_) => "gone",
            ApiError::Frozen(_) => "frozen",
            ApiError::ApprovalRequired(_) => "approval_required",
            ApiError::ConfirmationRequired(_) => "confirmation_required",
            ApiError::OwnedByFile { .. } => "owned_by_file",
            ApiError::OwnedByRelease { .. } => "owned_by_release",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<daylight::ValidationError> for ApiError {
    fn from(e: daylight::ValidationError) -> Self {
        ApiError::invalid(e.path, e.message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => ApiError::Conflict("it already exists".into()),
            // A pooled connection cut by a database that stops or restarts
            // reports SQLSTATE class 08 (connection exception) or 57
            // (operator intervention, e.g. 57P01 admin shutdown).
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) => {
                ApiError::Unavailable("the database is unreachable; try again shortly".into())
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                ApiError::Unavailable("the database is unreachable; try again shortly".into())
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let field = match &self {
            ApiError::Invalid { field, .. } => field.clone(),
            ApiError::OwnedByFile { field, .. } | ApiError::OwnedByRelease { field, .. } => Some(field.clone()),
            _ => None,
        };
        let mut body = json!({ "error": self.code(), "message": self.to_string(), "field": field });
        if let ApiError::ForbiddenIn { role, environment, .. } = &self {
            body["role"] = json!(role);
            body["environment"] = json!(environment);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after_secs, .. } = &self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, (*retry_after_secs).into());
        }
        response
    }
}
