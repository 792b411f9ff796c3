//! Overload: past `max_in_flight` requests the server answers 503 with `Retry-After` at once instead of
//! queueing; liveness still answers, and the permit comes back when the request in flight ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use warrant_core::role::Role;
use warrant_server::{AppState, ServerConfig};
use warrant_store::{Principal, Store, StoreConfig};

use crate::support::Scratch;

fn request(method: &str, path: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limit_a_request_is_refused_with_retry_after_not_queued() {
    let scratch = Scratch::new("overload");
    let store = Store::open(&scratch.0.join("data"), &StoreConfig::default()).unwrap();
    let mut state = AppState::new(
        store,
        ServerConfig {
            max_in_flight: 1,
            ..ServerConfig::default()
        },
    );
    state.local_principal = Some(Principal::local_as("tester", Role::Admin));
    let permits = state.in_flight.clone();
    let router = warrant_server::router(state);

    // A client that sends its headers and then nothing: its request holds the only permit.
    let stalled = Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
    let holder = tokio::spawn(router.clone().oneshot(request("POST", "/v1/events", stalled)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while permits.available_permits() > 0 {
        assert!(!holder.is_finished(), "the stalled request was answered");
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled request was never admitted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let refused = router
        .clone()
        .oneshot(request("GET", "/v1/changes", Body::empty()))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    let body = axum::body::to_bytes(refused.into_body(), 1 << 16).await.unwrap();
    let error: warrant_api::ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(error.error.code, warrant_api::ErrorCode::Unavailable);

    // Liveness is never refused.
    let alive = router
        .clone()
        .oneshot(request("GET", "/healthz", Body::empty()))
        .await
        .unwrap();
    assert_eq!(alive.status(), StatusCode::OK);

    // The stalled client goes away: its permit comes back.
    holder.abort();
    let _ = holder.await;
    let answer = router
        .clone()
        .oneshot(request("GET", "/v1/changes", Body::empty()))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}
