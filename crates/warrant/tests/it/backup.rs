//! Operations: `warrant migrate`, `warrant backup` and `restore` of a SQLite data directory while its server
//! writes, and a PostgreSQL log backed up with pg_dump, restored into another database and verified.

use crate::support::{Scratch, Server, event, local, on_sqlite};

#[test]
fn a_sqlite_backup_taken_while_the_server_writes_verifies_and_restores() {
    if !on_sqlite() {
        // On PostgreSQL the data directory holds no database to copy; the next test covers that backend.
        let scratch = Scratch::new();
        let server = Server::start(&scratch.data(), &[]);
        drop(server);
        let dest = scratch.data().with_file_name("backup");
        let run = local(&scratch.data(), &["backup", dest.to_str().expect("a path")]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("pg_dump"), "{run:?}");
        return;
    }
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &["--checkpoint-interval-ms", "100"]);
    let admin = server.admin().to_owned();
    for number in 0..20 {
        let (status, answer) =
            server.post_json("/v1/events", &admin, &event(Some(&format!("b-{number}")), "kept"));
        assert_eq!(status, 200, "{answer}");
    }
    server.wait_for_checkpoint(&admin, 21);
    let dest = scratch.data().with_file_name("backup");
    let dest_text = dest.to_str().expect("a path").to_owned();
    // Taken while the server runs: a consistent snapshot.
    let run = local(&scratch.data(), &["-o", "json", "backup", &dest_text]).expect_code(0);
    let events = run.json()["events"].as_u64().expect("events");
    assert!(events >= 21, "{run:?}");
    drop(server);
    local(&dest, &["verify"]).expect_code(0);
    // A backup goes only into a new directory, and a restore only into a data directory with no log.
    local(&scratch.data(), &["backup", &dest_text]).expect_code(1);
    local(&scratch.data(), &["restore", &dest_text]).expect_code(2);
    let restored = scratch.data().with_file_name("restored");
    let run = local(&restored, &["-o", "json", "restore", &dest_text]).expect_code(0);
    assert_eq!(run.json()["events"].as_u64(), Some(events), "{run:?}");
    let run = local(&restored, &["-o", "json", "migrate"]).expect_code(0);
    assert_eq!(
        run.json()["from"],
        run.json()["to"],
        "a restored backup of this version needs no migration"
    );
}

#[test]
fn a_postgresql_log_restored_from_pg_dump_verifies_under_the_same_key() {
    if on_sqlite() {
        eprintln!("needs PostgreSQL (WARRANT_TEST_POSTGRES)");
        return;
    }
    let scratch = Scratch::new();
    let database = scratch.database().expect("a PostgreSQL database");
    let server = Server::start(&scratch.data(), &["--checkpoint-interval-ms", "100"]);
    let admin = server.admin().to_owned();
    for number in 0..10 {
        let (status, answer) =
            server.post_json("/v1/events", &admin, &event(Some(&format!("p-{number}")), "kept"));
        assert_eq!(status, 200, "{answer}");
    }
    server.wait_for_checkpoint(&admin, 11);
    // The documented backup: pg_dump while the server runs, pg_restore into another database.
    let dump = scratch.data().with_file_name("log.dump");
    let status = std::process::Command::new("pg_dump")
        .args([
            "-Fc",
            "--no-owner",
            "-f",
            dump.to_str().expect("a path"),
            &database.url,
        ])
        .status()
        .expect("pg_dump runs");
    assert!(status.success(), "pg_dump failed");
    drop(server);
    let restored = crate::support::TestDatabase::create().expect("a second database");
    let status = std::process::Command::new("pg_restore")
        .args(["--no-owner", "-d", &restored.url, dump.to_str().expect("a path")])
        .status()
        .expect("pg_restore runs");
    assert!(status.success(), "pg_restore failed");
    // A data directory with the log's key, bound to the restored database: the whole log verifies.
    let dir = scratch.data().with_file_name("restored");
    std::fs::create_dir_all(&dir).expect("a directory");
    std::fs::copy(scratch.data().join("log.key"), dir.join("log.key")).expect("the key");
    let run = local(&dir, &["--database", &restored.url, "-o", "json", "verify"]).expect_code(0);
    assert!(run.json()["events"].as_u64().expect("events") >= 11, "{run:?}");
    local(&dir, &["--database", &restored.url, "migrate"]).expect_code(0);
}
