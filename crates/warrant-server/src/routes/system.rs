//! Liveness, Prometheus metrics and the OpenAPI document. None of them needs a token.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;

/// The OpenAPI 3.1 description of this API, written by hand and checked against the router by a test.
const OPENAPI: &str = include_str!("../openapi.json");

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state
        .metrics
        .render(state.store.size(), state.store.registry().len());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
