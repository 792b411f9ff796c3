//! `warrant witness serve`: a standalone C2SP tlog-witness. `POST /add-checkpoint` cosigns a checkpoint of a
//! known log only if it is consistent with the latest one cosigned for that log (404 unknown log, 403 not
//! signed by its key, 400 malformed, 409 with the witness's size, 422 inconsistent); `GET /<sha256 of
//! origin>/checkpoint` serves the latest cosigned checkpoint for monitors. State lives in `WitnessDb`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use warrant_log::cosignature::Cosigner;
use warrant_log::witness::{AddCheckpoint, Refusal, SIZE_CONTENT_TYPE, size_body};
use warrant_store::{TrustedLogs, WitnessDb};

/// A request body is an old size, at most 63 hashes and a checkpoint with its signatures: a few KiB.
const BODY_LIMIT: usize = 64 * 1024;

/// What the witness's handlers share.
pub struct WitnessService {
    pub db: WitnessDb,
    pub logs: TrustedLogs,
    pub cosigner: Cosigner,
}

pub fn witness_router(service: Arc<WitnessService>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin}/checkpoint", get(latest))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(service)
}

async fn add_checkpoint(State(service): State<Arc<WitnessService>>, body: Bytes) -> Response {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return plain(StatusCode::BAD_REQUEST, "the request body is not UTF-8\n".into());
    };
    let request = match AddCheckpoint::parse(&text) {
        Ok(request) => request,
        Err(refusal) => return refused(&refusal),
    };
    let now = chrono::Utc::now().timestamp().max(1).unsigned_abs();
    let outcome = tokio::task::spawn_blocking(move || {
        service
            .db
            .add_checkpoint(&request, &service.logs, &service.cosigner, now)
    })
    .await;
    match outcome {
        Ok(Ok(Ok(line))) => plain(StatusCode::OK, line),
        Ok(Ok(Err(refusal))) => refused(&refusal),
        Ok(Err(error)) => {
            tracing::error!(%error, "the witness's state failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the witness's state failed\n".into(),
            )
        }
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "the request stopped\n".into()),
    }
}

async fn latest(State(service): State<Arc<WitnessService>>, Path(origin_hash): Path<String>) -> Response {
    let origin = service
        .logs
        .keys()
        .find(|origin| hex::encode(Sha256::digest(origin.as_bytes())) == origin_hash)
        .cloned();
    let Some(origin) = origin else {
        return plain(StatusCode::NOT_FOUND, "unknown log\n".into());
    };
    match tokio::task::spawn_blocking(move || service.db.latest(&origin)).await {
        Ok(Ok(Some(checkpoint))) => plain(StatusCode::OK, checkpoint),
        Ok(Ok(None)) => plain(
            StatusCode::NOT_FOUND,
            "no checkpoint of this log was cosigned yet\n".into(),
        ),
        _ => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the witness's state failed\n".into(),
        ),
    }
}

fn refused(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match refusal {
        Refusal::Conflict { size } => (
            status,
            [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
            size_body(*size),
        )
            .into_response(),
        other => plain(status, format!("{other}\n")),
    }
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
