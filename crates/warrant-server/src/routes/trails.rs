//! `GET /v1/trails/{id}` (`warrant_service::trails`): the decision path named by a trace id, a session id or
//! an event seq, as a tree with a link to each step's inclusion proof.

use axum::extract::State;
use warrant_api::trails::Trail;
use warrant_service::{blocking, trails};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Path;

pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Trail>, ApiError> {
    let store = state.store.clone();
    Ok(axum::Json(blocking(move || trails::get(&store, &id)).await?))
}
