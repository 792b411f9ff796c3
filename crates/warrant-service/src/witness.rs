//! Witnessing the log: submit each new checkpoint to every `kind: Witness` with a consistency proof from the
//! size it last cosigned (C2SP tlog-witness), keep the cosignatures that verify, catch up through a 409, and
//! say plainly when a witness refuses (a 422 means the log is not what it showed before) or does not answer.
//! The board holds what `/healthz` and `/metrics` report; the policy (k of n, fail open or closed) decides
//! which checkpoint the log publishes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use warrant_core::registry::manifest::{Kind, Manifest, Witness};
use warrant_log::cosignature::{CosignatureVerifier, verify_cosignatures, with_signature_lines};
use warrant_log::witness::{AddCheckpoint, parse_size_body};
use warrant_store::{Checkpoint, Store, StoreError};

/// How long one submission may take.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(5);
/// 409 answers followed in one round before giving up until the next.
const MAX_CATCH_UPS: usize = 3;
/// How far back the published checkpoint is looked for among cosigned ones.
const COSIGNED_LOOKBACK: u64 = 64;

/// The witness policy: how many witnesses must cosign, and whether the log publishes only what they did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WitnessPolicy {
    /// Cosignatures required (none: every configured witness).
    pub quorum: Option<usize>,
    /// Fail closed: publish (serve and export) only checkpoints the quorum cosigned. Fail open: publish the
    /// latest, with whatever cosignatures it has, and report the shortfall.
    pub fail_closed: bool,
}

/// One witness's state as last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WitnessHealth {
    /// The size it last cosigned.
    pub size: Option<u64>,
    pub last_cosigned: Option<DateTime<Utc>>,
    /// What went wrong on the last attempt, if anything.
    pub problem: Option<String>,
    /// It refused a checkpoint as inconsistent (422): the log is not what it showed before.
    pub refused: bool,
    pub cosignatures: u64,
    pub failures: u64,
    /// 409 answers followed: the witness held another size than this log knew (and was caught up with).
    pub catch_ups: u64,
}

/// What the server reports about witnessing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WitnessReport {
    pub policy: WitnessPolicy,
    pub required: usize,
    pub witnesses: BTreeMap<String, WitnessHealth>,
    pub latest_size: u64,
    /// The largest checkpoint with the required cosignatures.
    pub witnessed_size: Option<u64>,
}

impl WitnessReport {
    /// Whether the latest checkpoint has its cosignatures (true with no witnesses configured).
    pub fn met(&self) -> bool {
        self.witnesses.is_empty() || self.witnessed_size == Some(self.latest_size)
    }

    /// Whether any witness refused the log as inconsistent.
    pub fn refused(&self) -> bool {
        self.witnesses.values().any(|health| health.refused)
    }
}

/// The shared board the witnessing loop writes and `/healthz`, `/metrics` and the checkpoint route read.
#[derive(Debug, Default)]
pub struct WitnessBoard {
    report: Mutex<WitnessReport>,
}

impl WitnessBoard {
    pub fn new(policy: WitnessPolicy) -> WitnessBoard {
        WitnessBoard {
            report: Mutex::new(WitnessReport {
                policy,
                ..WitnessReport::default()
            }),
        }
    }

    pub fn report(&self) -> WitnessReport {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WitnessReport> {
        match self.report.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The witnesses in the registry with their parsed keys (apply refuses a key that does not parse).
pub fn witnesses(store: &Store) -> Vec<(Witness, CosignatureVerifier)> {
    store
        .registry()
        .list(Kind::Witness)
        .filter_map(|manifest| match manifest {
            Manifest::Witness(witness) => {
                let key = CosignatureVerifier::parse_vkey(&witness.key).ok()?;
                Some((witness.clone(), key))
            }
            _ => None,
        })
        .collect()
}

/// Submit the latest checkpoint to every witness that has not cosigned it, then update the board.
pub async fn witness_round(store: &Store, board: &WitnessBoard) -> Result<(), StoreError> {
    let configured = witnesses(store);
    let policy = board.lock().policy;
    if configured.is_empty() {
        *board.lock() = WitnessReport {
            policy,
            ..WitnessReport::default()
        };
        return Ok(());
    }
    let Some(latest) = store.latest_checkpoint()? else {
        return Ok(());
    };
    let already = verify_cosignatures(&latest.cosigned_note(), &keys(&configured)).unwrap_or_default();
    let mut rounds = Vec::new();
    let mut current = Vec::new();
    for (witness, key) in configured.iter().cloned() {
        if already
            .iter()
            .any(|cosignature| cosignature.witness == key.name())
        {
            current.push(witness.id);
            continue;
        }
        let (store, latest) = (store.clone(), latest.clone());
        rounds.push(tokio::spawn(async move {
            let outcome = submit(&store, &witness, &key, &latest).await;
            (witness.id, outcome)
        }));
    }
    let mut outcomes = Vec::new();
    for round in rounds {
        if let Ok(outcome) = round.await {
            outcomes.push(outcome);
        }
    }
    // Every cosignature of the round in one transaction: one commit, not one per witness.
    let lines: Vec<(String, String)> = outcomes
        .iter()
        .filter_map(|(id, outcome)| outcome.as_ref().ok().map(|done| (id.clone(), done.line.clone())))
        .collect();
    if let Err(error) = store.add_cosignatures(latest.size, lines).await {
        for (_, outcome) in &mut outcomes {
            if outcome.is_ok() {
                *outcome = Err(Problem::new(format!(
                    "its cosignature could not be stored: {error}"
                )));
            }
        }
    }
    let required = policy.quorum.unwrap_or(configured.len()).min(configured.len());
    let witnessed = witnessed_checkpoint(store, &configured, required)?;
    let mut report = board.lock();
    report.required = required;
    report.latest_size = latest.size;
    report.witnessed_size = witnessed.map(|checkpoint| checkpoint.size);
    report
        .witnesses
        .retain(|id, _| configured.iter().any(|(witness, _)| witness.id == *id));
    for (witness, _) in &configured {
        report.witnesses.entry(witness.id.clone()).or_default();
    }
    for id in current {
        let health = report.witnesses.entry(id).or_default();
        health.size = Some(latest.size);
        health.problem = None;
    }
    for (id, outcome) in outcomes {
        let health = report.witnesses.entry(id.clone()).or_default();
        match outcome {
            Ok(submitted) => {
                health.size = Some(submitted.size);
                health.last_cosigned = Some(Utc::now());
                health.problem = None;
                health.refused = false;
                health.cosignatures += 1;
                health.catch_ups += submitted.catch_ups;
            }
            Err(problem) => {
                health.failures += 1;
                health.catch_ups += problem.catch_ups;
                if problem.inconsistent {
                    health.refused = true;
                    tracing::error!(witness = %id, problem = %problem.message, "a witness refused the log's checkpoint");
                } else {
                    tracing::warn!(witness = %id, problem = %problem.message, "witnessing failed; will retry");
                }
                health.problem = Some(problem.message);
            }
        }
    }
    Ok(())
}

/// The checkpoint the log publishes under `policy`: the latest, unless it fails closed and the latest lacks
/// its cosignatures, then the latest that has them (none before any was witnessed).
pub fn published_checkpoint(store: &Store, board: &WitnessBoard) -> Result<Option<Checkpoint>, StoreError> {
    let policy = board.lock().policy;
    let configured = witnesses(store);
    if !policy.fail_closed || configured.is_empty() {
        return store.latest_checkpoint();
    }
    let required = policy.quorum.unwrap_or(configured.len()).min(configured.len());
    witnessed_checkpoint(store, &configured, required)
}

/// The latest checkpoint with `required` cosignatures from the configured witnesses.
fn witnessed_checkpoint(
    store: &Store,
    configured: &[(Witness, CosignatureVerifier)],
    required: usize,
) -> Result<Option<Checkpoint>, StoreError> {
    if required == 0 {
        return store.latest_checkpoint();
    }
    let keys = keys(configured);
    Ok(store
        .cosigned_checkpoints(COSIGNED_LOOKBACK)?
        .into_iter()
        .find(|checkpoint| {
            verify_cosignatures(&checkpoint.cosigned_note(), &keys).is_ok_and(|found| found.len() >= required)
        }))
}

fn keys(configured: &[(Witness, CosignatureVerifier)]) -> Vec<CosignatureVerifier> {
    configured.iter().map(|(_, key)| key.clone()).collect()
}

/// A submission that ended in a cosignature: the size cosigned and the 409s followed on the way.
#[derive(Debug)]
struct Submitted {
    size: u64,
    catch_ups: u64,
    /// The verified cosignature line, to store.
    line: String,
}

/// Why a submission did not end in a cosignature.
#[derive(Debug)]
struct Problem {
    message: String,
    /// The witness found the checkpoint inconsistent with what it cosigned before.
    inconsistent: bool,
    catch_ups: u64,
}

impl Problem {
    fn new(message: String) -> Problem {
        Problem {
            message,
            inconsistent: false,
            catch_ups: 0,
        }
    }
}

/// One witness, one checkpoint: submit, follow 409s, verify the cosignature (the caller stores it).
async fn submit(
    store: &Store,
    witness: &Witness,
    key: &CosignatureVerifier,
    latest: &Checkpoint,
) -> Result<Submitted, Problem> {
    let stored = |error: StoreError| Problem::new(format!("the store failed: {error}"));
    let mut old = store.witness_size(&witness.id).map_err(stored)?.unwrap_or(0);
    for catch_ups in 0..=MAX_CATCH_UPS as u64 {
        if old > latest.size {
            return Err(Problem {
                message: format!(
                    "it has cosigned size {old}, larger than this log's latest checkpoint ({}): the log was rolled back",
                    latest.size
                ),
                inconsistent: true,
                catch_ups,
            });
        }
        let proof = if old == 0 || old == latest.size {
            Vec::new()
        } else {
            store
                .consistency_proof(old, latest.size)
                .map_err(|error| Problem::new(format!("no consistency proof from {old}: {error}")))?
        };
        let body = AddCheckpoint {
            old,
            proof,
            checkpoint: latest.note.clone(),
        }
        .to_body();
        let url = format!("{}/add-checkpoint", witness.url.trim_end_matches('/'));
        let answer = tokio::task::spawn_blocking(move || post(&url, &body))
            .await
            .map_err(|error| Problem::new(format!("the submission stopped: {error}")))?;
        match answer {
            Answer::Status(200, text) => {
                let cosigned = with_signature_lines(&latest.note, &text);
                let found = verify_cosignatures(&cosigned, std::slice::from_ref(key))
                    .map_err(|error| Problem::new(format!("its cosignature does not verify: {error}")))?;
                let Some(cosignature) = found.into_iter().next() else {
                    return Err(Problem::new(
                        "it answered without a cosignature by its key".into(),
                    ));
                };
                return Ok(Submitted {
                    size: latest.size,
                    catch_ups,
                    line: cosignature.line,
                });
            }
            Answer::Status(409, text) => {
                let size = parse_size_body(&text)
                    .ok_or_else(|| Problem::new(format!("its 409 answer does not give a size: {text:?}")))?;
                store
                    .set_witness_size(witness.id.clone(), size)
                    .await
                    .map_err(stored)?;
                old = size;
            }
            Answer::Status(status, text) => {
                return Err(Problem {
                    message: format!(
                        "it refused checkpoint {} with {status}: {}",
                        latest.size,
                        text.trim()
                    ),
                    inconsistent: status == 422,
                    catch_ups,
                });
            }
            Answer::Unreachable(error) => return Err(Problem::new(format!("it did not answer: {error}"))),
        }
    }
    Err(Problem::new(format!(
        "its size kept changing after {MAX_CATCH_UPS} catch-ups; will retry"
    )))
}

enum Answer {
    Status(u16, String),
    Unreachable(String),
}

fn post(url: &str, body: &str) -> Answer {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    let agent = AGENT.get_or_init(|| ureq::AgentBuilder::new().timeout(SUBMIT_TIMEOUT).build());
    let response = agent
        .post(url)
        .set("content-type", "text/plain; charset=utf-8")
        .set("user-agent", concat!("warrant/", env!("CARGO_PKG_VERSION")))
        .send_string(body);
    let read = |response: ureq::Response| {
        let status = response.status();
        // Answers are a few lines; a larger one is cut rather than read without bound.
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(
            &mut std::io::Read::take(Box::new(response.into_reader()), 64 * 1024),
            &mut text,
        );
        Answer::Status(status, text)
    };
    match response {
        Ok(response) => read(response),
        Err(ureq::Error::Status(_, response)) => read(response),
        Err(error) => Answer::Unreachable(error.to_string()),
    }
}
