//! Portable SQL: the one way the store runs statements, on SQLite or on PostgreSQL.
//!
//! Every query in the store is written once, with SQLite's numbered placeholders (`?1`, `?2`, …), and runs
//! through a [`Db`] handle: a borrowed connection of either backend, inside a transaction or not. Parameters
//! are [`Param`]s (integers, floats, text, bytes, `NULL`), and columns are read back through [`FromColumn`],
//! so the same code binds and reads on both backends. For PostgreSQL the placeholders become `$1`, `$2`, …
//! and each statement is prepared once per connection.
//!
//! PostgreSQL is reached through `tokio-postgres` (the asynchronous driver the synchronous `postgres` crate
//! wraps). The store is synchronous (one sequencer thread, a pool of readers), and the `postgres` crate cannot
//! be called from inside a tokio runtime, which the server's handlers are; so the connections' I/O runs on a
//! small runtime of their own and the store's threads wait on each request's future. Waiting blocks the calling
//! thread exactly as a SQLite call does.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use postgres_types::{IsNull, ToSql as PgToSql, Type};
use tokio_postgres::Statement;
use warrant_log::Seq;

use crate::StoreError;

/// Which database a store lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What can be bound to a placeholder.
pub(crate) trait Param {
    fn value(&self) -> Value<'_>;
}

/// What a column can be read as.
pub(crate) trait FromColumn: Sized {
    fn from_column(value: Value<'_>) -> Result<Self, String>;
}

/// A statement's parameters: `&[&a, &b]`.
pub(crate) type Params<'p> = [&'p dyn Param];

/// A borrowed connection of either backend. Cheap to copy; statements run on whatever transaction the
/// connection is in.
#[derive(Clone, Copy)]
pub(crate) enum Db<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(&'c PgConn),
}

/// One row of a result.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r tokio_postgres::Row),
}

/// An owned connection of either backend.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

/// A transaction on a [`Conn`]: committed by [`Tx::commit`], rolled back when dropped without it.
pub(crate) struct Tx<'c> {
    db: Db<'c>,
    open: bool,
}

impl Conn {
    pub fn db(&self) -> Db<'_> {
        match self {
            Conn::Sqlite(connection) => Db::Sqlite(connection),
            Conn::Postgres(connection) => Db::Postgres(connection),
        }
    }

    /// Begin a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so it never
    /// fails half-way for want of it.
    pub fn transaction(&mut self) -> Result<Tx<'_>, StoreError> {
        let db = self.db();
        db.execute_batch(match db {
            Db::Sqlite(_) => "BEGIN IMMEDIATE",
            Db::Postgres(_) => "BEGIN",
        })?;
        Ok(Tx { db, open: true })
    }

    /// Whether the connection is gone for good (a PostgreSQL server that closed it); SQLite's never are.
    pub fn is_closed(&self) -> bool {
        match self {
            Conn::Sqlite(_) => false,
            Conn::Postgres(connection) => connection.is_closed(),
        }
    }
}

impl<'c> Tx<'c> {
    pub fn db(&self) -> Db<'c> {
        self.db
    }

    pub fn commit(mut self) -> Result<(), StoreError> {
        self.open = false;
        self.db.execute_batch("COMMIT")
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open
            && let Err(error) = self.db.execute_batch("ROLLBACK")
        {
            tracing::warn!(%error, "rolling back a transaction failed");
        }
    }
}

impl<'c> Db<'c> {
    pub fn backend(self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Run statements with no parameters and no results (schema, `BEGIN`, `COMMIT`).
    pub fn execute_batch(self, sql: &str) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(connection) => Ok(connection.execute_batch(sql)?),
            Db::Postgres(connection) => connection.wait(connection.client.batch_execute(sql)),
        }
    }

    /// Run one statement; returns the rows it changed.
    pub fn execute(self, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
        match self {
            Db::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(sql)?;
                Ok(statement.execute(rusqlite::params_from_iter(
                    params.iter().map(|param| param.value()),
                ))? as u64)
            }
            Db::Postgres(connection) => {
                let statement = connection.statement(sql)?;
                let values: Vec<Value<'_>> = params.iter().map(|param| param.value()).collect();
                let bound = pg_params(&values);
                connection.wait(connection.client.execute(&statement, &bound))
            }
        }
    }

    /// Every row of a query, each mapped by `map`.
    pub fn query_all<T>(
        self,
        sql: &str,
        params: &Params<'_>,
        mut map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut rows = Vec::new();
        self.query_each(sql, params, |row| {
            rows.push(map(row)?);
            Ok(true)
        })?;
        Ok(rows)
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        self,
        sql: &str,
        params: &Params<'_>,
        map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut map = Some(map);
        let mut found = None;
        self.query_each(sql, params, |row| {
            if let Some(map) = map.take() {
                found = Some(map(row)?);
            }
            Ok(false)
        })?;
        Ok(found)
    }

    /// The first row of a query that always returns one (an aggregate, a `RETURNING`).
    pub fn query_one<T>(
        self,
        sql: &str,
        params: &Params<'_>,
        map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, map)?
            .ok_or_else(|| StoreError::Damaged(format!("a query that returns a row returned none: {sql}")))
    }

    /// Stream the rows of a query through `each`, which returns whether it wants the next one.
    pub fn query_each(
        self,
        sql: &str,
        params: &Params<'_>,
        mut each: impl FnMut(&Row<'_>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(
                    params.iter().map(|param| param.value()),
                ))?;
                while let Some(row) = rows.next()? {
                    if !each(&Row::Sqlite(row))? {
                        break;
                    }
                }
                Ok(())
            }
            Db::Postgres(connection) => {
                // The rows are read whole before `each` sees the first: `each` may run statements of its own on
                // the same connection, and the driver answers requests in order, so a second query behind a
                // half-read first one would wait forever. Callers page through large scans (`LIMIT`).
                let statement = connection.statement(sql)?;
                let values: Vec<Value<'_>> = params.iter().map(|param| param.value()).collect();
                let bound = pg_params(&values);
                let rows = connection.wait(connection.client.query(&statement, &bound))?;
                for row in &rows {
                    if !each(&Row::Postgres(row))? {
                        break;
                    }
                }
                Ok(())
            }
        }
    }
}

impl<'c> Db<'c> {
    /// Insert `rows` into `into` (`table (column, …)`), each row's values in the columns' order with their
    /// PostgreSQL `types`. PostgreSQL gets one binary `COPY` for the lot (one round trip, not one per row);
    /// SQLite, in process, one cached `INSERT` per row.
    pub fn insert_many(self, into: &str, types: &[Type], rows: &[Vec<Value<'_>>]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        match self {
            Db::Sqlite(_) => {
                let placeholders: Vec<String> = (1..=types.len()).map(|index| format!("?{index}")).collect();
                let sql = format!("INSERT INTO {into} VALUES ({})", placeholders.join(", "));
                let mut inserted = 0;
                for row in rows {
                    let params: Vec<&dyn Param> = row.iter().map(|value| value as &dyn Param).collect();
                    inserted += self.execute(&sql, &params)?;
                }
                Ok(inserted)
            }
            Db::Postgres(connection) => {
                let statement = connection.statement(&format!("COPY {into} FROM STDIN (FORMAT binary)"))?;
                let sink = connection.wait(connection.client.copy_in(&statement))?;
                futures_executor::block_on(async {
                    let writer = tokio_postgres::binary_copy::BinaryCopyInWriter::new(sink, types);
                    let mut writer = std::pin::pin!(writer);
                    for row in rows {
                        writer.as_mut().write(&pg_params(row)).await?;
                    }
                    writer.as_mut().finish().await
                })
                .map_err(StoreError::from)
            }
        }
    }
}

impl Param for Value<'_> {
    fn value(&self) -> Value<'_> {
        *self
    }
}

impl Row<'_> {
    /// Column `index` (from 0) as `T`.
    pub fn get<T: FromColumn>(&self, index: usize) -> Result<T, StoreError> {
        let value = self.value(index)?;
        T::from_column(value).map_err(|message| StoreError::Damaged(format!("column {index}: {message}")))
    }

    fn value(&self, index: usize) -> Result<Value<'_>, StoreError> {
        match self {
            Row::Sqlite(row) => Ok(match row.get_ref(index)? {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(value) => Value::Int(value),
                rusqlite::types::ValueRef::Real(value) => Value::Real(value),
                rusqlite::types::ValueRef::Text(bytes) => Value::Text(
                    std::str::from_utf8(bytes)
                        .map_err(|_| StoreError::Damaged(format!("column {index} is not UTF-8 text")))?,
                ),
                rusqlite::types::ValueRef::Blob(bytes) => Value::Blob(bytes),
            }),
            Row::Postgres(row) => pg_value(row, index),
        }
    }
}

fn pg_value(row: &tokio_postgres::Row, index: usize) -> Result<Value<'_>, StoreError> {
    let column = row
        .columns()
        .get(index)
        .ok_or_else(|| StoreError::Damaged(format!("no column {index}")))?;
    let ty = column.type_().clone();
    let value = if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(index)?.map(Value::Int)
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(index)?
            .map(|value| Value::Int(value.into()))
    } else if ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(index)?
            .map(|value| Value::Int(value.into()))
    } else if ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
    } else if ty == Type::FLOAT4 {
        row.try_get::<_, Option<f32>>(index)?
            .map(|value| Value::Real(value.into()))
    } else if ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(index)?
            .map(|value| Value::Int(value.into()))
    } else if ty == Type::BYTEA {
        row.try_get::<_, Option<&[u8]>>(index)?.map(Value::Blob)
    } else if ty == Type::TEXT || ty == Type::VARCHAR || ty == Type::BPCHAR || ty == Type::NAME {
        row.try_get::<_, Option<&str>>(index)?.map(Value::Text)
    } else {
        return Err(StoreError::Damaged(format!(
            "column {index} ({}) has type {ty}, which the store does not read",
            column.name()
        )));
    };
    Ok(value.unwrap_or(Value::Null))
}

/// The transaction-scoped advisory lock that serialises PostgreSQL write transactions on a log. Its first key
/// is warrant's (`warr` in ASCII); its second key is the log's schema (`hashtext(current_schema())`), so each of a deployment's logs
/// (logs.rs) is sequenced on its own and they do not wait for each other. Transaction-scoped, not
/// session-scoped: COMMIT or ROLLBACK releases it, so it holds behind a connection pooler in transaction mode
/// and never outlives a server that died mid-transaction. (Two schemas whose names hash alike would only share
/// a lock: slower, never wrong.)
const LOG_LOCK: &str = "SELECT pg_advisory_xact_lock(2002874994, hashtext(current_schema()))";

/// Inside a PostgreSQL transaction, wait for and take the log's lock (see [`LOG_LOCK`]). SQLite needs
/// none: its write transactions already exclude each other (`BEGIN IMMEDIATE`).
pub(crate) fn lock_log(db: Db<'_>) -> Result<(), StoreError> {
    if db.backend() == Backend::Postgres {
        db.execute(LOG_LOCK, &[])?;
    }
    Ok(())
}

// ---- parameters ----

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

macro_rules! int_param {
    ($($ty:ty),*) => {$(
        impl Param for $ty {
            fn value(&self) -> Value<'_> {
                // Seqs, sizes and counts: never near i64::MAX; a value past it would be a bug upstream.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_param!(i64, i32, u32, u64, usize);

impl Param for Seq {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::try_from(self.get()).unwrap_or(i64::MAX))
    }
}

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int((*self).into())
    }
}

impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<const N: usize> Param for [u8; N] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(value) => ValueRef::Integer(value),
            Value::Real(value) => ValueRef::Real(value),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// Bound as whatever type PostgreSQL inferred for the placeholder, as SQLite would take it: an integer into a
/// 32-bit column is checked, an integer into text is its decimal form.
impl PgToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(value) => {
                if *ty == Type::INT8 {
                    value.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(value)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(value)?.to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (value as f64).to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (value != 0).to_sql(ty, out)
                } else if is_text(ty) {
                    value.to_string().as_str().to_sql(&Type::TEXT, out)
                } else {
                    Err(format!("an integer cannot be bound as {ty}").into())
                }
            }
            Value::Real(value) => {
                if *ty == Type::FLOAT8 {
                    value.to_sql(ty, out)
                } else if *ty == Type::FLOAT4 {
                    (value as f32).to_sql(ty, out)
                } else {
                    Err(format!("a float cannot be bound as {ty}").into())
                }
            }
            Value::Text(text) => {
                if is_text(ty) {
                    text.to_sql(&Type::TEXT, out)
                } else {
                    Err(format!("text cannot be bound as {ty}").into())
                }
            }
            Value::Blob(bytes) => {
                if *ty == Type::BYTEA {
                    bytes.to_sql(ty, out)
                } else {
                    Err(format!("bytes cannot be bound as {ty}").into())
                }
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

/// Values as the driver's parameter list.
fn pg_params<'v>(values: &'v [Value<'_>]) -> Vec<&'v (dyn PgToSql + Sync)> {
    values
        .iter()
        .map(|value| value as &(dyn PgToSql + Sync))
        .collect()
}

fn is_text(ty: &Type) -> bool {
    *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::BPCHAR || *ty == Type::UNKNOWN
}

// ---- columns ----

impl<T: FromColumn> FromColumn for Option<T> {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            value => T::from_column(value).map(Some),
        }
    }
}

fn integer(value: Value<'_>) -> Result<i64, String> {
    match value {
        Value::Int(value) => Ok(value),
        other => Err(format!("expected an integer, found {other:?}")),
    }
}

macro_rules! int_column {
    ($($ty:ty),*) => {$(
        impl FromColumn for $ty {
            fn from_column(value: Value<'_>) -> Result<Self, String> {
                let value = integer(value)?;
                <$ty>::try_from(value).map_err(|_| format!("{value} is out of range"))
            }
        }
    )*};
}
int_column!(i64, i32, u32, u64, usize);

impl FromColumn for Seq {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        u64::from_column(value).map(Seq)
    }
}

impl FromColumn for bool {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        integer(value).map(|value| value != 0)
    }
}

impl FromColumn for f64 {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Real(value) => Ok(value),
            Value::Int(value) => Ok(value as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

impl FromColumn for String {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text.to_owned()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromColumn for Vec<u8> {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Blob(bytes) => Ok(bytes.to_vec()),
            // SQLite keeps what was bound: a blob column may hold text.
            Value::Text(text) => Ok(text.as_bytes().to_vec()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

impl<const N: usize> FromColumn for [u8; N] {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Blob(bytes) => {
                <[u8; N]>::try_from(bytes).map_err(|_| format!("expected {N} bytes, found {}", bytes.len()))
            }
            other => Err(format!("expected {N} bytes, found {other:?}")),
        }
    }
}

// ---- PostgreSQL connections ----

/// A PostgreSQL connection: the client, and the statements prepared on it (keyed by their SQLite text).
pub(crate) struct PgConn {
    client: tokio_postgres::Client,
    statements: Mutex<HashMap<String, Statement>>,
}

/// Statements a connection keeps prepared; past this the cache starts over (the store's SQL is a fixed set,
/// so this only bounds a bug).
const STATEMENT_CACHE: usize = 1024;

/// The runtime that drives every PostgreSQL connection's socket.
fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("warrant-postgres")
                .enable_all()
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|error| StoreError::Database(format!("cannot start the PostgreSQL runtime: {error}")))
}

impl PgConn {
    /// Connect to `url` (a libpq-style `postgres://` URL or key=value string).
    pub fn connect(url: &str) -> Result<PgConn, StoreError> {
        let runtime = runtime()?;
        let url = url.to_owned();
        let connected = futures_executor::block_on(
            runtime.spawn(async move { tokio_postgres::connect(&url, tokio_postgres::NoTls).await }),
        )
        .map_err(|error| StoreError::Database(format!("connecting to PostgreSQL: {error}")))?;
        let (client, connection) = connected.map_err(|error| StoreError::Unavailable(error.to_string()))?;
        runtime.spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "PostgreSQL connection closed");
            }
        });
        Ok(PgConn {
            client,
            statements: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the connection has closed (the server went away); the pool replaces closed connections.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn wait<T>(
        &self,
        future: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        futures_executor::block_on(future).map_err(StoreError::from)
    }

    /// The prepared statement for `sql` (SQLite placeholders), preparing it on first use.
    fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.cached(sql) {
            return Ok(statement);
        }
        let statement = self.wait(self.client.prepare(&placeholders(sql)))?;
        let mut statements = match self.statements.lock() {
            Ok(statements) => statements,
            Err(poisoned) => poisoned.into_inner(),
        };
        if statements.len() >= STATEMENT_CACHE {
            statements.clear();
        }
        statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn cached(&self, sql: &str) -> Option<Statement> {
        match self.statements.lock() {
            Ok(statements) => statements.get(sql).cloned(),
            Err(poisoned) => poisoned.into_inner().get(sql).cloned(),
        }
    }
}

/// SQLite's `?N` placeholders as PostgreSQL's `$N`, outside quoted strings and identifiers.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut next_unnumbered = 1;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(open) => {
                out.push(c);
                if c == open {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(digit) = chars.next_if(char::is_ascii_digit) {
                        out.push(digit);
                    }
                } else {
                    out.push_str(&next_unnumbered.to_string());
                    next_unnumbered += 1;
                }
            }
            None => out.push(c),
        }
    }
    out
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        if error.is_closed() || error.as_db_error().is_none() && error.to_string().contains("connection") {
            return StoreError::Unavailable(error.to_string());
        }
        match error.as_db_error() {
            Some(db) => StoreError::Database(format!(
                "{}{}",
                db.message(),
                db.detail()
                    .map(|detail| format!(" ({detail})"))
                    .unwrap_or_default()
            )),
            None => StoreError::Database(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?3' AND \"e?\" = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?3' AND \"e?\" = $1"
        );
    }

    #[test]
    fn sqlite_binds_and_reads_every_kind_of_value() {
        // As every connection the store opens: SQLite's page cache is set before SQLite first starts.
        crate::pcache::install();
        let connection = rusqlite::Connection::open_in_memory().unwrap_or_else(|error| panic!("{error}"));
        let db = Db::Sqlite(&connection);
        db.execute_batch("CREATE TABLE t (i BIGINT, r DOUBLE PRECISION, s TEXT, b BLOB, n TEXT)")
            .unwrap_or_else(|error| panic!("{error}"));
        let none: Option<String> = None;
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
            &[&Seq(7), &1.5, &"text", &vec![1u8, 2], &none],
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let row = db
            .query_one("SELECT i, r, s, b, n FROM t", &[], |row| {
                Ok((
                    row.get::<Seq>(0)?,
                    row.get::<f64>(1)?,
                    row.get::<String>(2)?,
                    row.get::<Vec<u8>>(3)?,
                    row.get::<Option<String>>(4)?,
                ))
            })
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(row, (Seq(7), 1.5, "text".into(), vec![1, 2], None));
        assert!(
            db.query_one("SELECT s FROM t", &[], |row| row.get::<i64>(0))
                .is_err(),
            "text is not read as an integer"
        );
    }
}
