//! A deployment's logs (`warrant_store::logs`): list them and create one. The server mounts what this
//! creates; the new log's first record is its admin token, made in the name of whoever asked for the log.

use chrono::{DateTime, Utc};
use warrant_api::ErrorCode;
use warrant_api::logs as wire;
use warrant_core::identity::Principal;
use warrant_core::role::Role;
use warrant_store::Store;
use warrant_store::logs::LogId;

use crate::error::{Result, ServiceError};

/// A log as listed: `id` none for the deployment's first log.
pub fn info(id: Option<&LogId>, store: &Store) -> wire::LogInfo {
    wire::LogInfo {
        id: id.map(LogId::to_string),
        origin: store.origin().to_owned(),
        key: store.verifier_key().to_owned(),
        size: store.size(),
        path: id.map_or_else(|| "/".to_owned(), |id| format!("/logs/{id}/")),
    }
}

/// Check a request for a new log: a valid id, and the organisation (the first log's unless given).
pub fn parse(request: &wire::CreateLog, first: &Store) -> Result<(LogId, String)> {
    let id = LogId::parse(request.id.trim())
        .map_err(|message| ServiceError::invalid(ErrorCode::InvalidName, message))?;
    let org = match request.org.as_deref().map(str::trim) {
        Some(org) if org.is_empty() || org.len() > 64 || org.chars().any(char::is_control) => {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidName,
                "`org` is 1 to 64 printable characters",
            ));
        }
        Some(org) => org.to_owned(),
        // `warrant/<org>/<log-id>`: the first log's organisation.
        None => first.origin().split('/').nth(1).unwrap_or("default").to_owned(),
    };
    Ok((id, org))
}

/// Create log `id` for `org` in the deployment whose first log is `first`, with its first admin token.
/// Blocking (it creates a database or schema and opens the store): call it off the async workers.
pub fn create(first: &Store, id: &LogId, org: &str) -> Result<Store> {
    warrant_store::logs::create_log(first.dir(), id, org).map_err(ServiceError::from)
}

/// The new log's first admin token, recorded as made by `principal` (who created the log).
pub async fn first_admin(
    store: &Store,
    id: &LogId,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<wire::NewLog> {
    let admin = crate::tokens::create(
        store,
        warrant_api::tokens::CreateToken {
            name: "admin".into(),
            role: Role::Admin.as_str().into(),
            agents: Vec::new(),
            person: None,
            expires: None,
        },
        principal,
        now,
    )
    .await?;
    Ok(wire::NewLog {
        log: info(Some(id), store),
        admin,
    })
}
