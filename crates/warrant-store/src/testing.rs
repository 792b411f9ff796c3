//! For tests in this and other crates (feature `testing`): a fresh PostgreSQL database per test, on the
//! server `WARRANT_TEST_POSTGRES` names (an admin URL such as `postgres://warrant:warrant@localhost/postgres`;
//! `.ci/run` starts one). Without it tests run on SQLite.

#![allow(clippy::expect_used, clippy::panic)]

use std::path::Path;

/// A database created for one test and dropped, with any connections left, when it is dropped.
pub struct TestDatabase {
    admin: String,
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A fresh database, if `WARRANT_TEST_POSTGRES` is set.
    pub fn create() -> Option<TestDatabase> {
        let admin = std::env::var("WARRANT_TEST_POSTGRES").ok()?;
        let name = format!("warrant_test_{}", crate::random_id("").expect("randomness"));
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin
            .rsplit_once('/')
            .expect("WARRANT_TEST_POSTGRES ends in /database")
            .0;
        Some(TestDatabase {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }

    /// With `WARRANT_TEST_POSTGRES`, bind data directory `data` (created if needed) to a fresh database, so every
    /// store and command opened on it runs on PostgreSQL; keep the returned database alive for the test.
    pub fn bind(data: &Path) -> Option<TestDatabase> {
        let database = TestDatabase::create()?;
        std::fs::create_dir_all(data).expect("the data directory");
        std::fs::write(data.join(crate::DATABASE_BINDING), &database.url)
            .expect("binding the data directory");
        Some(database)
    }

    /// Run `sql` as the test server's administrator (to stage an outage, say).
    pub fn admin_sql(&self, sql: &str) {
        psql(&self.admin, sql);
    }
}

impl Drop for TestDatabase {
    /// Dropped with the connections left on it. An autovacuum worker may be visiting the fresh database, and
    /// a role without `pg_signal_backend` cannot end it: try again shortly, and never fail a test for it.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        for _ in 0..10 {
            if try_psql(&self.admin, &sql) {
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

/// Whether tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os("WARRANT_TEST_POSTGRES").is_some()
}

fn psql(url: &str, sql: &str) {
    assert!(try_psql(url, sql), "psql failed: {sql}");
}

fn try_psql(url: &str, sql: &str) -> bool {
    std::process::Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .status()
        .expect("psql runs")
        .success()
}
