//! [`Seq`]: a position in the evidence log.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The position of an event in the log: the 0-based index of its leaf in the Merkle tree. A log of size `n`
/// holds seqs `0..n`; sizes stay plain counts, so a seq and a size cannot be swapped by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The seq after this one.
    pub const fn next(self) -> Seq {
        Seq(self.0 + 1)
    }

    /// Whether a log of `size` events holds this seq.
    pub const fn within(self, size: u64) -> bool {
        self.0 < size
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

impl FromStr for Seq {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Seq, Self::Err> {
        text.parse().map(Seq)
    }
}

impl From<Seq> for u64 {
    fn from(seq: Seq) -> u64 {
        seq.0
    }
}

impl From<Seq> for serde_json::Value {
    fn from(seq: Seq) -> serde_json::Value {
        seq.0.into()
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::ToSql for Seq {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::types::FromSql for Seq {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Seq> {
        u64::column_result(value).map(Seq)
    }
}

/// The seq `count` events later.
impl std::ops::Add<u64> for Seq {
    type Output = Seq;

    fn add(self, count: u64) -> Seq {
        Seq(self.0 + count)
    }
}
