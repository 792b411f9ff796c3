//! Body extractors of our own, so a malformed or oversized body gets the same error shape as everything else.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use warrant_api::ErrorCode;

use crate::error::ApiError;

/// The raw request body, within the configured size limit (413 beyond it).
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Body, ApiError> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "the request body is larger than the server's limit (see `warrant serve --body-limit`)",
            )),
            Err(rejection) => Err(ApiError::bad_request(ErrorCode::BadBody, rejection.body_text())),
        }
    }
}

/// A JSON body of type `T`; malformed JSON or a wrong shape is a 400 that says where.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Json<T>, ApiError> {
        let Body(bytes) = Body::from_request(request, state).await?;
        serde_json::from_slice(&bytes).map(Json).map_err(|error| {
            ApiError::bad_request(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON for this request: {error}"),
            )
        })
    }
}

/// An optional JSON body: an empty (or all-whitespace) body is `T::default()`, anything else must parse.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<OptionalJson<T>, ApiError> {
        let Body(bytes) = Body::from_request(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&bytes).map(OptionalJson).map_err(|error| {
            ApiError::bad_request(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON for this request: {error}"),
            )
        })
    }
}

/// The body as UTF-8 text.
pub fn utf8(bytes: &Bytes) -> Result<&str, ApiError> {
    std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request(ErrorCode::BadBody, "the body is not UTF-8 text"))
}

/// Query parameters of type `T`; a bad parameter is a 400 in our error shape, naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Query<T>, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text()))
    }
}

/// Path parameters of type `T`; one that does not parse (a version that is not a number) is a 400 in our
/// error shape, naming it.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Path<T>, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| ApiError::bad_request(ErrorCode::InvalidRequest, rejection.body_text()))
    }
}
