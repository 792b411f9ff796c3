//! Internal audits (ISO/IEC 42001 9.2) and their nonconformities (10.2), pure: grading what an audit found
//! against the Statement of Applicability, and the lifecycle of the tracked nonconformities (open, raised
//! again, reopened, closed by a later audit or by a corrective action). The store persists what these return.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use warrant_log::Seq;

use crate::compliance::report::{Implementation, SoaRow};

/// How serious a nonconformity is; it sets how soon it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Major,
    Minor,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Major => "major",
            Grade::Minor => "minor",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NcStatus {
    Open,
    Closed,
}

impl NcStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NcStatus::Open => "open",
            NcStatus::Closed => "closed",
        }
    }
}

/// A tracked nonconformity. Its id says what it is about (`nc-<control>`, `nc-<control>-proof`,
/// `nc-<control>-no-samples`), so a later audit that raises the same problem finds the same record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nonconformity {
    pub id: String,
    pub control: String,
    pub grade: Grade,
    pub finding: String,
    pub corrective_action: String,
    pub owner: String,
    pub due: NaiveDate,
    pub status: NcStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
    /// The audits that raised it, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised_in: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// The corrective action taken, or why a later audit closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closure: Option<String>,
}

/// Days until a nonconformity is due: a proof that fails is urgent.
fn due_days(kind: &Problem, grade: Grade) -> i64 {
    match (kind, grade) {
        (Problem::ProofFailed, _) => 7,
        (Problem::NotImplemented, Grade::Major) => 30,
        _ => 90,
    }
}

enum Problem {
    NoSamples,
    ProofFailed,
    NotImplemented,
}

/// What sampling one implemented control's evidence found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleOutcome {
    /// How many items were sampled.
    pub sampled: usize,
    /// The sampled seqs whose inclusion proofs did not verify.
    pub failed: Vec<Seq>,
}

fn raise(
    row: &SoaRow,
    problem: Problem,
    grade: Grade,
    finding: String,
    action: String,
    now: DateTime<Utc>,
) -> Nonconformity {
    let id = match problem {
        Problem::NoSamples => format!("nc-{}-no-samples", row.control),
        Problem::ProofFailed => format!("nc-{}-proof", row.control),
        Problem::NotImplemented => format!("nc-{}", row.control),
    };
    Nonconformity {
        id,
        control: row.control.clone(),
        grade,
        finding,
        corrective_action: action,
        owner: row.owner.clone(),
        due: (now + Duration::days(due_days(&problem, grade))).date_naive(),
        status: NcStatus::Open,
        opened_at: None,
        raised_in: None,
        reopened_at: None,
        closed_at: None,
        closed_by: None,
        closure: None,
    }
}

/// The nonconformities an implemented control's sample raises: none sampled is minor (the evidence does not
/// reach the log), a proof that fails is major (the log's integrity is in question).
pub fn grade_sample(
    row: &SoaRow,
    sample: &SampleOutcome,
    checkpoint_size: u64,
    now: DateTime<Utc>,
) -> Vec<Nonconformity> {
    let mut raised = Vec::new();
    if sample.sampled == 0 {
        raised.push(raise(
            row,
            Problem::NoSamples,
            Grade::Minor,
            "marked implemented, but no evidence event could be sampled for it".into(),
            "check which records evidence the control and that they reach the log".into(),
            now,
        ));
    }
    if !sample.failed.is_empty() {
        raised.push(raise(
            row,
            Problem::ProofFailed,
            Grade::Major,
            format!(
                "the inclusion proofs of seqs {:?} do not verify against checkpoint {checkpoint_size}",
                sample.failed
            ),
            "run `warrant verify` and investigate the log's integrity".into(),
            now,
        ));
    }
    raised
}

/// The nonconformity an applicable control that is not implemented raises: partial evidence is minor,
/// missing evidence major. `None` for a control that is implemented or excluded.
pub fn grade_gap(row: &SoaRow, now: DateTime<Utc>) -> Option<Nonconformity> {
    if !row.applicable || row.status == Implementation::Implemented {
        return None;
    }
    let grade = if row.status == Implementation::Partial {
        Grade::Minor
    } else {
        Grade::Major
    };
    let reasons: Vec<&str> = row.rules.iter().map(|result| result.reason.as_str()).collect();
    let finding = if reasons.is_empty() {
        "no evidence rule covers it and nothing is attached".to_owned()
    } else {
        reasons.join("; ")
    };
    let action = row
        .rules
        .iter()
        .find_map(|result| result.next_step.clone())
        .unwrap_or_else(|| {
            format!(
                "attach its documented information (`warrant docs add FILE --control {}`)",
                row.control
            )
        });
    Some(raise(row, Problem::NotImplemented, grade, finding, action, now))
}

/// What recording an audit does to the tracked nonconformities.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sync {
    /// Every record that changed, to be saved.
    pub changed: Vec<Nonconformity>,
    /// The ids this audit closed because it no longer raised them.
    pub closed: Vec<String>,
}

/// Bring the tracked nonconformities in line with what audit `audit` (recorded at `at`) raised: a new one
/// opens, one raised again stays open with the new finding (a closed one reopens with a new due date), and
/// an open one this audit no longer raises is closed with that as its evidence.
pub fn sync(existing: &[Nonconformity], raised: &[Nonconformity], audit: &str, at: DateTime<Utc>) -> Sync {
    let mut outcome = Sync::default();
    for nc in raised {
        let mut record = match existing.iter().find(|known| known.id == nc.id) {
            Some(known) => {
                let mut record = known.clone();
                if record.status == NcStatus::Closed {
                    record.reopened_at = Some(at);
                    record.due = nc.due;
                }
                record.finding.clone_from(&nc.finding);
                record
            }
            None => Nonconformity {
                opened_at: Some(at),
                raised_in: Some(Vec::new()),
                ..nc.clone()
            },
        };
        record.status = NcStatus::Open;
        if let Some(audits) = &mut record.raised_in {
            audits.push(audit.to_owned());
        }
        outcome.changed.push(record);
    }
    for known in existing {
        let still = raised.iter().any(|nc| nc.id == known.id);
        if known.status == NcStatus::Open && !still {
            let mut record = known.clone();
            record.status = NcStatus::Closed;
            record.closed_at = Some(at);
            record.closure = Some(format!(
                "not raised again by {audit}: its evidence now meets the rule"
            ));
            outcome.closed.push(known.id.clone());
            outcome.changed.push(record);
        }
    }
    outcome
}

/// Why a nonconformity cannot be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseError {
    #[error("closing a nonconformity needs the corrective action taken")]
    NoAction,
    #[error("nonconformity `{0}` is already closed")]
    AlreadyClosed(String),
}

/// Close `record` with the corrective action taken, by `by`, at `at`.
pub fn close(
    record: &Nonconformity,
    action: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Nonconformity, CloseError> {
    if action.trim().is_empty() {
        return Err(CloseError::NoAction);
    }
    if record.status == NcStatus::Closed {
        return Err(CloseError::AlreadyClosed(record.id.clone()));
    }
    Ok(Nonconformity {
        status: NcStatus::Closed,
        closed_at: Some(at),
        closed_by: Some(by.to_owned()),
        closure: Some(action.to_owned()),
        ..record.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn nc(id: &str, status: NcStatus) -> Nonconformity {
        Nonconformity {
            id: id.into(),
            control: "A.6.2.8".into(),
            grade: Grade::Major,
            finding: "old finding".into(),
            corrective_action: "fix it".into(),
            owner: "ops".into(),
            due: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            status,
            opened_at: Some(time("2025-12-01T00:00:00Z")),
            raised_in: Some(vec!["audit-1".into()]),
            reopened_at: None,
            closed_at: None,
            closed_by: None,
            closure: None,
        }
    }

    #[test]
    fn a_new_problem_opens_one_raised_again_stays_open_and_one_not_raised_closes() {
        let existing = [nc("nc-a", NcStatus::Open), nc("nc-b", NcStatus::Open)];
        let mut again = nc("nc-a", NcStatus::Open);
        again.finding = "new finding".into();
        let fresh = Nonconformity {
            opened_at: None,
            raised_in: None,
            ..nc("nc-c", NcStatus::Open)
        };
        let outcome = sync(
            &existing,
            &[again, fresh],
            "audit-2",
            time("2026-02-01T00:00:00Z"),
        );
        let by_id = |id: &str| outcome.changed.iter().find(|nc| nc.id == id).unwrap();
        assert_eq!(by_id("nc-a").finding, "new finding");
        assert_eq!(
            by_id("nc-a").raised_in.as_deref(),
            Some(&["audit-1".to_owned(), "audit-2".to_owned()][..])
        );
        assert_eq!(by_id("nc-c").opened_at, Some(time("2026-02-01T00:00:00Z")));
        assert_eq!(
            by_id("nc-c").raised_in.as_deref(),
            Some(&["audit-2".to_owned()][..])
        );
        assert_eq!(by_id("nc-b").status, NcStatus::Closed);
        assert_eq!(outcome.closed, vec!["nc-b".to_owned()]);
    }

    #[test]
    fn a_closed_one_raised_again_reopens_with_the_new_due_date() {
        let existing = [nc("nc-a", NcStatus::Closed)];
        let mut again = nc("nc-a", NcStatus::Open);
        again.due = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let outcome = sync(&existing, &[again], "audit-3", time("2026-02-01T00:00:00Z"));
        let record = &outcome.changed[0];
        assert_eq!(record.status, NcStatus::Open);
        assert_eq!(record.due, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(record.reopened_at, Some(time("2026-02-01T00:00:00Z")));
        assert!(outcome.closed.is_empty());
    }

    #[test]
    fn closing_needs_an_action_and_an_open_record() {
        let open = nc("nc-a", NcStatus::Open);
        assert_eq!(
            close(&open, "  ", "alice", time("2026-02-01T00:00:00Z")),
            Err(CloseError::NoAction)
        );
        let closed = close(&open, "rotated the key", "alice", time("2026-02-01T00:00:00Z")).unwrap();
        assert_eq!(closed.closed_by.as_deref(), Some("alice"));
        assert_eq!(
            close(&closed, "again", "bob", time("2026-02-01T00:00:00Z")),
            Err(CloseError::AlreadyClosed("nc-a".into()))
        );
    }
}
