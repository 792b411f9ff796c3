//! API tokens: issued, bound to agents, expired, revoked, and checked on every request.
//!
//! Only a token's SHA-256 is stored. The valid ones are held in memory (hash → entry) so authentication is one
//! map lookup; creating and revoking go through the sequencer with a `token` event in the same transaction,
//! and the map is updated before the answer goes out, so a revocation holds from the moment it is
//! acknowledged. When a token was last used is kept in memory and written now and then
//! ([`crate::Store::flush_token_use`]): it is a convenience, not evidence.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::event::{EventKind, format_time};
use warrant_core::identity::{Principal, PrincipalKind};
use warrant_core::role::Role;

use crate::StoreError;
use crate::db::{Db, Row};
use crate::keys::{new_token_secret, token_hash};
use crate::tree::blob_hash;
use crate::writer::Log;

/// What to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub name: String,
    pub role: Role,
    /// For an `agent` token, the agents it may act for (at least one).
    pub agents: BTreeSet<String>,
    /// The person behind the token; defaults to its name.
    pub person: Option<String>,
    pub expires: Option<DateTime<Utc>>,
}

/// A newly created token. The secret is shown once; only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub info: TokenInfo,
    pub secret: String,
}

/// A token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub agents: BTreeSet<String>,
    pub person: String,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub revoked: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    /// An agent token from before agents were bound: it no longer authenticates.
    pub unbound: bool,
}

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown token")]
    Unknown,
    #[error("token `{0}` was revoked")]
    Revoked(String),
    #[error("token `{0}` expired")]
    Expired(String),
    #[error(
        "agent token `{0}` names no agent it may act for (it predates bound tokens); re-create it with \
         `warrant token create --role agent --agent <agent-id> --name <name>` and revoke this one"
    )]
    Unbound(String),
}

/// One token in memory.
pub(crate) struct Entry {
    /// Shared with every request it authenticates: no per-request copy of the agent set.
    pub principal: Arc<Principal>,
    pub revoked: bool,
    pub unbound: bool,
    /// Milliseconds since the epoch of the last use; 0 for never.
    pub last_used: AtomicI64,
    /// The last use already written to the database.
    pub last_flushed: AtomicI64,
}

pub(crate) type Tokens = HashMap<[u8; 32], Arc<Entry>>;

impl Entry {
    pub fn authenticate(&self, now: DateTime<Utc>) -> Result<Arc<Principal>, AuthError> {
        let name = || self.principal.name.clone();
        if self.revoked {
            return Err(AuthError::Revoked(name()));
        }
        if self.unbound {
            return Err(AuthError::Unbound(name()));
        }
        if self.principal.is_expired(now) {
            return Err(AuthError::Expired(name()));
        }
        self.last_used.store(now.timestamp_millis(), Ordering::Relaxed);
        Ok(Arc::clone(&self.principal))
    }
}

/// The token id for a secret's hash: public, stable, and not enough to find the secret.
pub(crate) fn token_id(hash: &[u8; 32]) -> String {
    format!("tok_{}", hex::encode(hash.get(..8).unwrap_or_default()))
}

const COLUMNS: &str = "hash, id, name, role, agents, person, expires, revoked, last_used, created";

pub(crate) fn load(db: Db<'_>) -> Result<Tokens, StoreError> {
    let mut tokens = HashMap::new();
    db.query_each(&format!("SELECT {COLUMNS} FROM tokens"), &[], |row| {
        let hash = blob_hash(&row.get::<Vec<u8>>(0)?)?;
        let info = info_from_row(row)?;
        tokens.insert(hash, Arc::new(entry(&info)));
        Ok(true)
    })?;
    Ok(tokens)
}

pub(crate) fn list(db: Db<'_>) -> Result<Vec<TokenInfo>, StoreError> {
    db.query_all(
        &format!("SELECT {COLUMNS} FROM tokens ORDER BY created, id"),
        &[],
        info_from_row,
    )
}

fn info_from_row(row: &Row<'_>) -> Result<TokenInfo, StoreError> {
    let id: String = row.get(1)?;
    let name: String = row.get(2)?;
    let role: String = row.get(3)?;
    let damaged = |what: &str| StoreError::Damaged(format!("token `{id}` has {what}"));
    let role = Role::parse(&role).ok_or_else(|| damaged("an unknown role"))?;
    let agents: Option<String> = row.get(4)?;
    let unbound = role == Role::Agent && agents.as_deref().is_none_or(|agents| agents == "[]");
    let agents: BTreeSet<String> = match agents {
        Some(text) => serde_json::from_str(&text).map_err(|_| damaged("unreadable agents"))?,
        None => BTreeSet::new(),
    };
    let time = |index: usize| -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = row.get(index)?;
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|time| time.with_timezone(&Utc))
                .map_err(|_| damaged("an unreadable time"))
        })
        .transpose()
    };
    let person: Option<String> = row.get(5)?;
    let (expires, revoked, last_used) = (time(6)?, time(7)?, time(8)?);
    Ok(TokenInfo {
        person: person.unwrap_or_else(|| name.clone()),
        id,
        name,
        role,
        agents,
        expires,
        revoked,
        last_used,
        created: crate::read::time_column(row, 9)?,
        unbound,
    })
}

pub(crate) fn entry(info: &TokenInfo) -> Entry {
    let last_used = info.last_used.map_or(0, |time| time.timestamp_millis());
    Entry {
        principal: Arc::new(Principal {
            id: info.id.clone(),
            kind: PrincipalKind::Token,
            name: info.name.clone(),
            role: info.role,
            agents: if info.role == Role::Agent {
                info.agents.clone()
            } else {
                BTreeSet::new()
            },
            person: info.person.clone(),
            expires: info.expires,
        }),
        revoked: info.revoked.is_some(),
        unbound: info.unbound,
        last_used: AtomicI64::new(last_used),
        last_flushed: AtomicI64::new(last_used),
    }
}

/// Insert a token and its `token` event in the writer's transaction.
pub(crate) fn create(
    log: &mut Log<'_>,
    spec: &TokenSpec,
    context: &ChangeContext,
) -> Result<(NewToken, [u8; 32]), StoreError> {
    let secret = new_token_secret()?;
    let hash = token_hash(&secret);
    let id = token_id(&hash);
    let agents = if spec.role == Role::Agent {
        spec.agents.clone()
    } else {
        BTreeSet::new()
    };
    let person = spec.person.clone().unwrap_or_else(|| spec.name.clone());
    let created = format_time(&context.time);
    let agents_json =
        serde_json::to_string(&agents).map_err(|error| StoreError::Damaged(error.to_string()))?;
    let inserted = log.transaction.execute(
        "INSERT INTO tokens (hash, id, name, role, agents, person, expires, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (name) DO NOTHING",
        &[
            &hash,
            &id,
            &spec.name,
            &spec.role.as_str(),
            &agents_json,
            &person,
            &spec.expires.as_ref().map(format_time),
            &created,
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::TokenNameTaken(spec.name.clone()));
    }
    let info = TokenInfo {
        id,
        name: spec.name.clone(),
        role: spec.role,
        agents,
        person,
        created: context.time,
        expires: spec.expires,
        revoked: None,
        last_used: None,
        unbound: false,
    };
    log.append(EventKind::Token, "", event_attrs(&info, "created"), context)?;
    Ok((NewToken { info, secret }, hash))
}

/// Mark a token revoked and record it. Revoking a revoked token is refused (nothing to do, nothing recorded).
pub(crate) fn revoke(
    log: &mut Log<'_>,
    id: &str,
    context: &ChangeContext,
) -> Result<(TokenInfo, [u8; 32]), StoreError> {
    let found = log.transaction.query_opt(
        &format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"),
        &[&id],
        |row| Ok((row.get::<Vec<u8>>(0)?, info_from_row(row)?)),
    )?;
    let Some((hash, mut info)) = found else {
        return Err(StoreError::TokenNotFound(id.to_owned()));
    };
    if info.revoked.is_some() {
        return Err(StoreError::TokenRevoked(id.to_owned()));
    }
    log.transaction.execute(
        "UPDATE tokens SET revoked = ?1 WHERE id = ?2",
        &[&format_time(&context.time), &id],
    )?;
    info.revoked = Some(context.time);
    let mut attrs = event_attrs(&info, "revoked");
    if let Some(reason) = &context.reason {
        attrs.insert("reason".into(), json!(reason));
    }
    log.append(EventKind::Token, "", attrs, context)?;
    Ok((info, blob_hash(&hash)?))
}

/// The `token` event's attributes: what the token is, never its secret.
fn event_attrs(info: &TokenInfo, op: &str) -> Map<String, Value> {
    let mut attrs = Map::new();
    attrs.insert("op".into(), json!(op));
    attrs.insert("token_id".into(), json!(info.id));
    attrs.insert("name".into(), json!(info.name));
    attrs.insert("role".into(), json!(info.role.as_str()));
    if info.role == Role::Agent {
        attrs.insert("agents".into(), json!(info.agents));
    }
    attrs.insert("person".into(), json!(info.person));
    if let Some(expires) = &info.expires {
        attrs.insert("expires".into(), json!(format_time(expires)));
    }
    attrs
}

/// Write the last-use times that changed since the last flush.
pub(crate) fn flush_use(db: Db<'_>, uses: &[(String, DateTime<Utc>)]) -> Result<(), StoreError> {
    for (id, time) in uses {
        db.execute(
            "UPDATE tokens SET last_used = ?1 WHERE id = ?2",
            &[&format_time(time), id],
        )?;
    }
    Ok(())
}
