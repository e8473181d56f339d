//! The answer codes of agreement §7: batch rejection codes and row status codes.

use serde::Serialize;
use std::fmt;

/// A batch rejection code (NAK), agreement §7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BatchCode {
    /// Not a readable zip archive.
    B01,
    /// Unsafe archive.
    B02,
    /// Required file missing, or an entry not allowed.
    B03,
    /// SHA-256 mismatch or malformed manifest.
    B04,
    /// HMAC missing or wrong.
    B05,
    /// `control.txt` malformed or inconsistent with the archive name.
    B06,
    /// Registry unreadable.
    B07,
    /// Control totals differ from the registry.
    B08,
    /// Batch id already processed with different content.
    B09,
    /// Sender, receiver or type not configured.
    B10,
}

impl BatchCode {
    /// The code as written in a response.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::B01 => "B01",
            Self::B02 => "B02",
            Self::B03 => "B03",
            Self::B04 => "B04",
            Self::B05 => "B05",
            Self::B06 => "B06",
            Self::B07 => "B07",
            Self::B08 => "B08",
            Self::B09 => "B09",
            Self::B10 => "B10",
        }
    }
}

impl fmt::Display for BatchCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row status code (ACK), agreement §7.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RowStatus {
    /// `1`: accepted / matched.
    Accepted,
    /// `2`: processing error on the receiver's side.
    ProcessingError,
    /// `4`: not found.
    NotFound,
    /// `201`: a required field is missing.
    Missing,
    /// `202`: a field has a wrong format or value.
    Invalid,
    /// `301`: duplicate payment id.
    Duplicate,
    /// `302`: invoice not payable.
    NotPayable,
    /// `303`: amount exceeds the outstanding balance.
    OverBalance,
    /// `304`: payer differs from the invoice's payer.
    PayerDiffers,
    /// `305`: amount (or, for REC, another attribute) differs.
    Differs,
    /// `306`: the receiver has a payment the statement lacks.
    NotInStatement,
    /// `307`: payment already reversed.
    AlreadyReversed,
}

impl RowStatus {
    /// Every status, for reports.
    pub const ALL: [RowStatus; 12] = [
        Self::Accepted,
        Self::ProcessingError,
        Self::NotFound,
        Self::Missing,
        Self::Invalid,
        Self::Duplicate,
        Self::NotPayable,
        Self::OverBalance,
        Self::PayerDiffers,
        Self::Differs,
        Self::NotInStatement,
        Self::AlreadyReversed,
    ];

    /// The numeric code as written in `result.csv`.
    pub fn code(self) -> u16 {
        match self {
            Self::Accepted => 1,
            Self::ProcessingError => 2,
            Self::NotFound => 4,
            Self::Missing => 201,
            Self::Invalid => 202,
            Self::Duplicate => 301,
            Self::NotPayable => 302,
            Self::OverBalance => 303,
            Self::PayerDiffers => 304,
            Self::Differs => 305,
            Self::NotInStatement => 306,
            Self::AlreadyReversed => 307,
        }
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}
