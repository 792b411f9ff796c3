//! What the policy gate held for a human: listing, reading (an agent principal only its own agents' calls),
//! and deciding (never by the principal or person who raised the call: four eyes, checked in the store's
//! transaction).

use chrono::{DateTime, Utc};
use warrant_api::ErrorCode;
use warrant_api::gate as wire;
use warrant_core::change::ChangeContext;
use warrant_core::identity::Principal;
use warrant_core::role::Role;
use warrant_store::{Approval, ApprovalStatus, Store};

use crate::error::{Result, ServiceError};
use crate::identity;

/// An approval status named on the wire (`pending`, `approved`, ...).
pub fn parse_status(name: &str) -> Result<ApprovalStatus> {
    ApprovalStatus::parse(name).ok_or_else(|| {
        ServiceError::invalid(
            ErrorCode::InvalidStatus,
            format!("unknown status `{name}`; use pending, approved, denied, used or expired"),
        )
    })
}

/// The approvals in `status` (all without one), as of `now` (expiry is computed at read time).
pub fn list(
    store: &Store,
    status: Option<ApprovalStatus>,
    now: DateTime<Utc>,
) -> Result<Vec<wire::Approval>> {
    Ok(store.approvals(status, now)?.iter().map(to_wire).collect())
}

/// One approval; an agent principal reads only its own agents' approvals.
pub fn get(store: &Store, principal: &Principal, id: &str, now: DateTime<Utc>) -> Result<wire::Approval> {
    let approval = store
        .approval(id, now)?
        .ok_or_else(|| ServiceError::not_found("no such approval"))?;
    if principal.role == Role::Agent {
        identity::act_for(principal, &approval.agent)?;
    }
    Ok(to_wire(&approval))
}

/// Approve or deny; a denial needs a reason.
pub async fn decide(
    store: &Store,
    id: String,
    approve: bool,
    reason: Option<String>,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<wire::Approval> {
    let reason = reason
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    if !approve && reason.is_none() {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidRequest,
            "a denial needs a `reason`",
        ));
    }
    let context = ChangeContext {
        principal: principal.clone(),
        reason,
        time: now,
    };
    let approval = store.decide_approval(id, approve, context).await?;
    Ok(to_wire(&approval))
}

pub fn status_to_wire(status: ApprovalStatus) -> wire::ApprovalStatus {
    match status {
        ApprovalStatus::Pending => wire::ApprovalStatus::Pending,
        ApprovalStatus::Approved => wire::ApprovalStatus::Approved,
        ApprovalStatus::Denied => wire::ApprovalStatus::Denied,
        ApprovalStatus::Used => wire::ApprovalStatus::Used,
        ApprovalStatus::Expired => wire::ApprovalStatus::Expired,
    }
}

pub fn to_wire(approval: &Approval) -> wire::Approval {
    wire::Approval {
        id: approval.id.clone(),
        agent: approval.agent.clone(),
        tool: approval.tool.clone(),
        session: approval.session.clone(),
        args_hash: approval.args_hash.clone(),
        reasons: approval.reasons.clone(),
        status: status_to_wire(approval.status),
        requested_seq: approval.requested_seq,
        requested_at: approval.requested_at,
        expires_at: approval.expires_at,
        decided_by: approval.decided_by.clone(),
        decided_at: approval.decided_at,
        decision_reason: approval.decision_reason.clone(),
        used_seq: approval.used_seq,
        requested_by: approval.requested_by.clone(),
    }
}

/// The exact arguments of a held call, as its `policy_decision` recorded them (`null` once erased).
pub fn arguments(store: &Store, approval: &wire::Approval) -> Result<serde_json::Value> {
    Ok(store
        .event(approval.requested_seq)?
        .and_then(|event| event.content.get("args").cloned())
        .unwrap_or(serde_json::Value::Null))
}

/// Why the gate held a call, for people: the `text` of each reason (`{rule, text}`), joined.
pub fn reasons_text(reasons: &serde_json::Value) -> String {
    match reasons {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| {
                item.get("text")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| item.to_string())
            })
            .collect::<Vec<_>>()
            .join("; "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
