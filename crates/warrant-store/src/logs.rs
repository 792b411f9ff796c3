//! A deployment's several logs: one Merkle log per organisation or business unit, which is how warrant shards.
//!
//! The data directory is the deployment's first log. Each further log is a data directory of its own under
//! `logs/<id>/`, with its own signing key and origin (`warrant/<org>/<id>-<hex>`), so its events, registry,
//! tokens, checkpoints and reports are its own. On SQLite it has its own database file; on PostgreSQL its tables
//! are a schema of their own (`warrant_log_<id>`) in the first log's database, reached through the connection's
//! `search_path`, so one database holds every log and each log is sequenced by its own lock (db.rs).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Database, Store, StoreConfig, StoreError};

/// The folder of a deployment's data directory that holds its further logs.
pub const LOGS_DIR: &str = "logs";

/// The name of one of a deployment's further logs: 1 to 32 lowercase letters, digits and inner hyphens, so it
/// is a path segment, a directory name and (with `-` as `_`) part of a PostgreSQL schema name as it stands.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogId(String);

impl LogId {
    pub fn parse(text: &str) -> Result<LogId, String> {
        let valid = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if valid {
            Ok(LogId(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not a log id: use 1 to 32 lowercase letters, digits and inner hyphens (`retail`, `eu-wealth`)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PostgreSQL schema that holds this log's tables. Ids have no `_`, so no two ids share a schema.
    pub fn schema(&self) -> String {
        format!("warrant_log_{}", self.0.replace('-', "_"))
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The data directory of log `id` in the deployment at `root`.
pub fn log_dir(root: &Path, id: &LogId) -> PathBuf {
    root.join(LOGS_DIR).join(id.as_str())
}

/// The further logs of the deployment at `root`, by id.
pub fn list_logs(root: &Path) -> Result<Vec<(LogId, PathBuf)>, StoreError> {
    let folder = root.join(LOGS_DIR);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StoreError::Io { path: folder, source }),
    };
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| StoreError::Io {
            path: folder.clone(),
            source,
        })?;
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|name| LogId::parse(name).ok())
        else {
            continue;
        };
        if crate::holds_log(&entry.path()) {
            logs.push((id, entry.path()));
        }
    }
    logs.sort();
    Ok(logs)
}

/// Where log `id` keeps its tables, given the deployment's first log's database: a file of its own on SQLite, a
/// schema of its own on PostgreSQL (the connection string with `options=-c search_path=<schema>`, so the
/// directory's binding file says exactly how to reach the log's tables with `psql`).
pub fn log_database(root_database: &Database, id: &LogId) -> Result<Database, StoreError> {
    match root_database {
        Database::Sqlite => Ok(Database::Sqlite),
        Database::Postgres(url) => {
            if url.contains("options=") {
                return Err(StoreError::Damaged(
                    "the PostgreSQL connection string sets `options`; warrant gives each further log its own \
                     search_path there, so take `options` out of the connection string"
                        .into(),
                ));
            }
            let separator = if url.contains('?') { '&' } else { '?' };
            Ok(Database::Postgres(format!(
                "{url}{separator}options=-c%20search_path%3D{}",
                id.schema()
            )))
        }
    }
}

/// Create log `id` in the deployment at `root` for organisation `org`, on the deployment's database, and open
/// it. A log that exists already is refused, never opened again under a new key.
pub fn create_log(root: &Path, id: &LogId, org: &str) -> Result<Store, StoreError> {
    let dir = log_dir(root, id);
    if crate::holds_log(&dir) || dir.join(crate::keys::SIGNING_KEY_FILE).exists() {
        return Err(StoreError::LogExists(id.to_string()));
    }
    let database = log_database(&Database::resolve(root, None)?, id)?;
    Store::open(
        &dir,
        &StoreConfig {
            org: org.to_owned(),
            database: Some(database),
            log: Some(id.to_string()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_are_path_segments_and_schema_names() {
        for good in ["retail", "eu-wealth", "a", "b2b", &"x".repeat(32)] {
            let id = LogId::parse(good).unwrap();
            assert!(id.schema().starts_with("warrant_log_"));
        }
        assert_eq!(
            LogId::parse("eu-wealth").unwrap().schema(),
            "warrant_log_eu_wealth"
        );
        for bad in [
            "",
            "-a",
            "a-",
            "Retail",
            "a_b",
            "a/b",
            "..",
            "a b",
            &"x".repeat(33),
        ] {
            assert!(LogId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_further_log_on_postgres_is_a_schema_of_the_same_database() {
        let id = LogId::parse("eu-wealth").unwrap();
        let plain = Database::Postgres("postgres://w:p@db/warrant".into());
        assert_eq!(
            log_database(&plain, &id).unwrap(),
            Database::Postgres(
                "postgres://w:p@db/warrant?options=-c%20search_path%3Dwarrant_log_eu_wealth".into()
            )
        );
        let with_query = Database::Postgres("postgres://w:p@db/warrant?sslmode=disable".into());
        assert!(matches!(
            log_database(&with_query, &id).unwrap(),
            Database::Postgres(url) if url.ends_with("sslmode=disable&options=-c%20search_path%3Dwarrant_log_eu_wealth")
        ));
        let with_options = Database::Postgres("postgres://db/w?options=-c%20x%3Dy".into());
        assert!(log_database(&with_options, &id).is_err());
        assert_eq!(log_database(&Database::Sqlite, &id).unwrap(), Database::Sqlite);
    }
}
