//! `ApiJson<T>`: axum's `Json` extractor with our error format, so a bad body gets
//! `{"error": {"code", "message"}}` naming the field instead of axum's plain text: 400 for
//! a body that is not JSON (or not sent as JSON), 422 for JSON of the wrong shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ApiError;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(rejection(e)),
        }
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The serde message (with the field path serde_path_to_error puts first), without
/// axum's "Failed to ..." preamble.
fn detail(text: String) -> String {
    match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("Failed to") => rest.to_owned(),
        _ => text,
    }
}

fn rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::JsonDataError(e) => ApiError::Unprocessable(detail(e.body_text())),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::BadRequest(format!("body is not valid JSON: {}", detail(e.body_text())))
        }
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::BadRequest("body: send JSON with Content-Type: application/json".into())
        }
        other => ApiError::BadRequest(format!("body: {}", other.body_text())),
    }
}

/// For `Option<Option<T>>` PATCH fields: absent stays `None` (with `#[serde(default)]`),
/// `null` becomes `Some(None)`, a value `Some(Some(v))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
