//! Human approvals asked for by the policy gate. An approval is bound to one agent, one tool and a hash of the
//! exact arguments; it expires; once approved it can be used once. Each request, decision and use is in the
//! evidence log: the request and use as the `policy_decision` events that carry them, a decision as an
//! `approval` event.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use warrant_log::Seq;

use crate::db::{Db, Row};
use crate::read::{opt_time_column, time_column};
use crate::{Store, StoreError};

/// An approval as stored, with its status as of `now` (a pending approval past its expiry reads as expired).
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub id: String,
    pub agent: String,
    pub tool: String,
    pub session: Option<String>,
    pub args_hash: String,
    /// The gate's reasons for asking, as JSON.
    pub reasons: Value,
    pub status: ApprovalStatus,
    pub requested_seq: Seq,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub used_seq: Option<Seq>,
    /// The principal that raised the held call (its id) and the person behind it; neither may decide it.
    pub requested_by: Option<String>,
    pub requested_person: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Used,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Used => "used",
            ApprovalStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<ApprovalStatus> {
        [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Denied,
            ApprovalStatus::Used,
            ApprovalStatus::Expired,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// A new approval, created with the `policy_decision` event that asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    pub id: String,
    pub agent: String,
    pub tool: String,
    pub session: Option<String>,
    pub args_hash: String,
    pub reasons: Value,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Who raised it (principal id) and the person behind that principal.
    pub requested_by: String,
    pub requested_person: String,
}

/// Why an approval cannot be decided or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("no approval `{0}`")]
    NotFound(String),
    #[error("approval `{id}` is {status}, not pending")]
    NotPending { id: String, status: &'static str },
    #[error("approval `{0}` was used or decided meanwhile")]
    Raced(String),
    #[error("approval `{0}` was raised by you (or another credential of yours); another person decides it")]
    SelfApproval(String),
}

/// Approval times have a fixed width (milliseconds, UTC) so SQL can compare them as text.
pub(crate) fn stamp(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The hash an approval is bound to: agent, tool and the canonical JSON of the arguments.
pub fn args_hash(agent: &str, tool: &str, args: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(agent.as_bytes());
    hasher.update([0]);
    hasher.update(tool.as_bytes());
    hasher.update([0]);
    hasher.update(warrant_log::canonical::canonicalize(args));
    hex::encode(hasher.finalize())
}

impl Store {
    pub fn approval(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Approval>, StoreError> {
        self.read(|db| load(db, id, now))
    }

    /// Approvals, newest first, optionally only those with `status` (as of `now`).
    pub fn approvals(
        &self,
        status: Option<ApprovalStatus>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Approval>, StoreError> {
        self.read(|db| {
            let mut approvals = Vec::new();
            db.query_each(
                &format!("SELECT {COLUMNS} FROM approvals ORDER BY requested_seq DESC"),
                &[],
                |row| {
                    let approval = from_row(row, now)?;
                    if status.is_none_or(|status| approval.status == status) {
                        approvals.push(approval);
                    }
                    Ok(true)
                },
            )?;
            Ok(approvals)
        })
    }
}

pub(crate) const COLUMNS: &str = "id, agent, tool, session, args_hash, reasons, status, requested_seq, requested_at, \
     expires_at, decided_by, decided_at, decision_reason, used_seq, requested_by, requested_person";

pub(crate) fn load(db: Db<'_>, id: &str, now: DateTime<Utc>) -> Result<Option<Approval>, StoreError> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
        &[&id],
        |row| from_row(row, now),
    )
}

pub(crate) fn from_row(row: &Row<'_>, now: DateTime<Utc>) -> Result<Approval, StoreError> {
    let id: String = row.get(0)?;
    let status_text: String = row.get(6)?;
    let expires_at = time_column(row, 9)?;
    let reasons: String = row.get(5)?;
    let mut status = ApprovalStatus::parse(&status_text)
        .ok_or_else(|| StoreError::Damaged(format!("approval `{id}` has status `{status_text}`")))?;
    if expires_at <= now && matches!(status, ApprovalStatus::Pending | ApprovalStatus::Approved) {
        status = ApprovalStatus::Expired;
    }
    Ok(Approval {
        id,
        agent: row.get(1)?,
        tool: row.get(2)?,
        session: row.get(3)?,
        args_hash: row.get(4)?,
        reasons: serde_json::from_str(&reasons).unwrap_or(Value::Null),
        status,
        requested_seq: row.get(7)?,
        requested_at: time_column(row, 8)?,
        expires_at,
        decided_by: row.get(10)?,
        decided_at: opt_time_column(row, 11)?,
        decision_reason: row.get(12)?,
        used_seq: row.get(13)?,
        requested_by: row.get(14)?,
        requested_person: row.get(15)?,
    })
}
