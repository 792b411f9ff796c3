//! The store on PostgreSQL: one log written by several stores (servers) at once. Runs when
//! `WARRANT_TEST_POSTGRES` names a PostgreSQL server a test may create databases on (`.ci/run` starts one),
//! e.g. `postgres://warrant:warrant@localhost/postgres`; without it each test says so and passes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::Path;

use chrono::Utc;
use warrant_core::event::Event;
use warrant_store::{Database, Principal, Store, StoreConfig, verify_data_dir};

/// A fresh database on the test server, dropped when the test ends.
struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    fn create() -> Option<TestDatabase> {
        let Ok(admin) = std::env::var("WARRANT_TEST_POSTGRES") else {
            eprintln!("WARRANT_TEST_POSTGRES is not set: skipping the PostgreSQL test");
            return None;
        };
        let name = format!("warrant_store_{}", warrant_store::random_id("").unwrap());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = match admin.rfind('/') {
            Some(slash) => format!("{}/{name}", &admin[..slash]),
            None => panic!("WARRANT_TEST_POSTGRES has no database part: {admin}"),
        };
        Some(TestDatabase { admin, name, url })
    }
}

impl Drop for TestDatabase {
    /// As `warrant_store::testing` does: an autovacuum worker may hold the fresh database a moment.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        for _ in 0..10 {
            let dropped = std::process::Command::new("psql")
                .args([self.admin.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql])
                .status()
                .is_ok_and(|status| status.success());
            if dropped {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        eprintln!(
            "could not drop the test database {}; it is left behind",
            self.name
        );
    }
}

fn psql(url: &str, sql: &str) {
    let status = std::process::Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql failed: {sql}");
}

fn event(index: usize) -> Event {
    Event::from_json(
        0,
        serde_json::json!({
            "time": "2026-12-07T10:00:00Z",
            "agent": format!("agent-{}", index % 3),
            "kind": "tool_call",
            "attrs": {"tool": "lookup"},
            "content": {"note": format!("event {index}")},
        }),
    )
    .unwrap()
}

fn open(dir: &Path, database: &TestDatabase) -> Store {
    Store::open(
        dir,
        &StoreConfig {
            org: "bank".into(),
            database: Some(Database::Postgres(database.url.clone())),
            log: None,
        },
    )
    .unwrap()
}

/// Two stores on one database, as two servers: data directories `a` and `b` under the returned directory,
/// `b` with a copy of `a`'s signing key.
fn two_stores(database: &TestDatabase) -> (tempfile::TempDir, Store, Store) {
    let scratch = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (scratch.path().join("a"), scratch.path().join("b"));
    let a = open(&dir_a, database);
    std::fs::create_dir_all(&dir_b).unwrap();
    std::fs::copy(dir_a.join("log.key"), dir_b.join("log.key")).unwrap();
    let b = open(&dir_b, database);
    (scratch, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_share_one_log_without_gaps_or_forks() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let (scratch, a, b) = two_stores(&database);
    let dir_a = scratch.path().join("a");
    assert_eq!(a.origin(), b.origin(), "one log, one origin");

    // Both stores append at once, in many small requests, and sign checkpoints as they go.
    let principal = Principal::warrant("test");
    let mut writers = Vec::new();
    for (which, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for task in 0..4 {
            let store = store.clone();
            let principal = principal.clone();
            writers.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for round in 0..25 {
                    let batch = (0..4)
                        .map(|index| event(which * 10_000 + task * 100 + round * 4 + index))
                        .collect();
                    for appended in store.append(batch, &principal, Utc::now()).await.unwrap() {
                        assert!(!appended.duplicate);
                        seqs.push(appended.seq.get());
                    }
                    if round % 5 == 4 {
                        store.checkpoint().await.unwrap();
                    }
                }
                seqs
            }));
        }
    }
    let mut seqs = Vec::new();
    for writer in writers {
        seqs.extend(writer.await.unwrap());
    }
    let total = 2 * 4 * 25 * 4;
    let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), total, "no seq was given twice");
    assert_eq!(distinct, (0..total as u64).collect(), "no gaps");

    // Whichever server signs, one checkpoint per size, and each is consistent with the next.
    let final_a = a.checkpoint().await.unwrap().unwrap();
    let final_b = b.checkpoint().await.unwrap().unwrap();
    assert_eq!(
        final_a, final_b,
        "both servers publish the same latest checkpoint"
    );
    assert_eq!(final_a.size, total as u64);
    let checkpoints = a.checkpoints().unwrap();
    let sizes: Vec<u64> = checkpoints.iter().map(|checkpoint| checkpoint.size).collect();
    let mut sorted = sizes.clone();
    sorted.dedup();
    assert_eq!(sizes, sorted, "exactly one checkpoint per size");
    for pair in checkpoints.windows(2) {
        let proof = b.consistency_proof(pair[0].size, pair[1].size).unwrap();
        warrant_log::proof::verify_consistency(
            pair[0].size,
            pair[1].size,
            &pair[0].root,
            &pair[1].root,
            &proof,
        )
        .unwrap_or_else(|error| panic!("checkpoints {} → {}: {error}", pair[0].size, pair[1].size));
    }
    // An event one server wrote is proven by the other, against the shared checkpoint.
    for seq in [0, total as u64 / 2, total as u64 - 1] {
        let stored = b.event(warrant_log::Seq(seq)).unwrap().unwrap();
        let proof = b.inclusion_proof(warrant_log::Seq(seq), final_b.size).unwrap();
        warrant_log::proof::verify_inclusion(&stored.leaf, seq, final_b.size, &proof, &final_b.root).unwrap();
    }
    drop((a, b));
    let report = verify_data_dir(&dir_a, None).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.events, total as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_change_on_one_store_reaches_the_other() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let (_scratch, a, b) = two_stores(&database);
    let context = || warrant_core::change::ChangeContext::new(Principal::warrant("test"), None, Utc::now());
    a.apply(
        "kind: Agent\nid: support\nowner: ops\npurpose: answers customers\nrisk_class: limited\ndecision_scope: execute\noversight: human-on-the-loop\n".into(),
        context(),
    )
    .await
    .unwrap();
    // B learns of the change when it next writes (its write transaction follows the log).
    b.append(vec![event(1)], &Principal::warrant("test"), Utc::now())
        .await
        .unwrap();
    assert!(
        b.registry().agent("support").is_some(),
        "B sees the agent A registered"
    );
    assert_eq!(b.size(), 2);
    // A change on B versions on top of A's.
    let outcome = b
        .apply(
            "kind: Agent\nid: support\nowner: ops\npurpose: answers customers and partners\nrisk_class: limited\ndecision_scope: execute\noversight: human-on-the-loop\n".into(),
            context(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.changes[0].version, 2);
}

#[tokio::test]
async fn a_data_directory_remembers_its_database_and_a_sqlite_log_is_not_moved() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("data");
    let store = open(&dir, &database);
    store
        .append(vec![event(0)], &Principal::warrant("test"), Utc::now())
        .await
        .unwrap();
    drop(store);
    // Opened again without naming a database: the binding finds it.
    let again = Store::open(&dir, &StoreConfig::default()).unwrap();
    assert_eq!(again.backend(), warrant_store::Backend::Postgres);
    assert_eq!(again.size(), 1);
    drop(again);
    // A directory with a SQLite log is not silently pointed at PostgreSQL.
    let sqlite_dir = scratch.path().join("sqlite");
    drop(Store::open(&sqlite_dir, &StoreConfig::default()).unwrap());
    let refused = Store::open(
        &sqlite_dir,
        &StoreConfig {
            org: "bank".into(),
            database: Some(Database::Postgres(database.url.clone())),
            log: None,
        },
    );
    assert!(
        refused.is_err(),
        "a SQLite data directory was bound to PostgreSQL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_or_revoked_on_one_store_counts_on_the_other_after_it_follows_the_log() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let (_scratch, a, b) = two_stores(&database);
    let context = || warrant_core::change::ChangeContext::new(Principal::warrant("test"), None, Utc::now());
    let token = a
        .create_token(
            warrant_store::TokenSpec {
                name: "auditor".into(),
                role: warrant_core::role::Role::Auditor,
                agents: Default::default(),
                person: None,
                expires: None,
            },
            context(),
        )
        .await
        .unwrap();
    assert!(
        b.authenticate(&token.secret, Utc::now()).is_err(),
        "B has not followed the log yet"
    );
    // Signing a checkpoint is a write: B follows the log, as an idle server does every checkpoint interval.
    b.checkpoint().await.unwrap();
    assert!(
        b.authenticate(&token.secret, Utc::now()).is_ok(),
        "B accepts the token A issued"
    );
    a.revoke_token(token.info.id.clone(), context()).await.unwrap();
    b.checkpoint().await.unwrap();
    assert!(
        b.authenticate(&token.secret, Utc::now()).is_err(),
        "B refuses the token A revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_starts_while_another_writes() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let (scratch, a, _b) = two_stores(&database);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (a, stop) = (a.clone(), stop.clone());
            tokio::spawn(async move {
                let mut index = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    a.append(vec![event(index)], &Principal::warrant("test"), Utc::now())
                        .await
                        .unwrap();
                    index += 1;
                }
                index
            })
        })
        .collect();
    // Each open reads the tree, registry and tokens and checks them against the sealed head while commits
    // land: under the log's lock they are one state, never "events added" or "removed".
    for round in 0..30 {
        let dir = scratch.path().join(format!("late-{round}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(scratch.path().join("a/log.key"), dir.join("log.key")).unwrap();
        let late = tokio::task::spawn_blocking({
            let (dir, url) = (dir.clone(), database.url.clone());
            move || {
                Store::open(
                    &dir,
                    &StoreConfig {
                        org: "bank".into(),
                        database: Some(Database::Postgres(url)),
                        log: None,
                    },
                )
            }
        })
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("round {round}: a store opened beside a writer: {error}"));
        drop(late);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        assert!(writer.await.unwrap() > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deployments_logs_share_one_database_and_nothing_else() {
    use warrant_store::logs::{LogId, create_log, list_logs, log_dir};
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let root_dir = scratch.path().join("deployment");
    let root = open(&root_dir, &database);
    let (retail_id, wealth_id) = (
        LogId::parse("retail").unwrap(),
        LogId::parse("eu-wealth").unwrap(),
    );
    let retail = create_log(&root_dir, &retail_id, "bank").unwrap();
    let wealth = create_log(&root_dir, &wealth_id, "bank").unwrap();
    assert!(matches!(
        create_log(&root_dir, &retail_id, "bank"),
        Err(warrant_store::StoreError::LogExists(_))
    ));
    assert_eq!(
        list_logs(&root_dir)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        vec![wealth_id.clone(), retail_id.clone()]
    );
    let origins: BTreeSet<&str> = [root.origin(), retail.origin(), wealth.origin()].into();
    assert_eq!(origins.len(), 3, "each log has its own origin: {origins:?}");
    assert!(
        retail.origin().starts_with("warrant/bank/retail-"),
        "{}",
        retail.origin()
    );

    // A second server on the retail log: its data directory is a copy of the log's key and binding.
    let second_dir = scratch.path().join("second-retail");
    std::fs::create_dir_all(&second_dir).unwrap();
    for file in ["log.key", "database"] {
        std::fs::copy(log_dir(&root_dir, &retail_id).join(file), second_dir.join(file)).unwrap();
    }
    let retail_b = Store::open(&second_dir, &StoreConfig::default()).unwrap();
    assert_eq!(retail_b.origin(), retail.origin());

    // All four stores write at once; each log numbers its own events from 0.
    let principal = Principal::warrant("test");
    let stores = [root.clone(), retail.clone(), retail_b.clone(), wealth.clone()];
    let mut writers = Vec::new();
    for (which, store) in stores.iter().cloned().enumerate() {
        let principal = principal.clone();
        writers.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for round in 0..20 {
                let batch = (0..5)
                    .map(|index| event(which * 1000 + round * 5 + index))
                    .collect();
                for appended in store.append(batch, &principal, Utc::now()).await.unwrap() {
                    seqs.push(appended.seq.get());
                }
            }
            seqs
        }));
    }
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.await.unwrap());
    }
    let numbered = |seqs: &[Vec<u64>]| seqs.iter().flatten().copied().collect::<BTreeSet<u64>>();
    assert_eq!(numbered(&written[0..1]), (0..100).collect(), "the first log");
    assert_eq!(
        numbered(&written[1..3]),
        (0..200).collect(),
        "retail, from two servers"
    );
    assert_eq!(numbered(&written[3..4]), (0..100).collect(), "eu-wealth");

    // A registry change in one log is not in the others.
    let manifest = "kind: Agent\nid: retail-assistant\nowner: retail-ops\npurpose: answers retail customers\nrisk_class: limited\ndecision_scope: execute\noversight: human-on-the-loop\n";
    let context = warrant_core::change::ChangeContext::new(principal.clone(), None, Utc::now());
    retail.apply(manifest.into(), context).await.unwrap();
    assert!(retail.registry().agent("retail-assistant").is_some());
    assert!(wealth.registry().agent("retail-assistant").is_none());
    assert!(root.registry().agent("retail-assistant").is_none());

    for store in &stores {
        store.checkpoint().await.unwrap();
    }
    drop((root, retail, retail_b, wealth, stores));
    for (dir, events) in [
        (root_dir.clone(), 100),
        (log_dir(&root_dir, &retail_id), 201),
        (log_dir(&root_dir, &wealth_id), 100),
    ] {
        let report = verify_data_dir(&dir, None).unwrap();
        assert!(
            report.findings.is_empty(),
            "{}: {:?}",
            dir.display(),
            report.findings
        );
        assert_eq!(report.events, events, "{}", dir.display());
    }
}
