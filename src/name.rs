//! Archive names of agreement §2: `{SENDER}_{RECEIVER}_{TYPE}_{YYYYMMDD}_{SEQ}.zip`.

use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

/// A registry type (agreement §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum BatchType {
    /// Payments.
    #[serde(rename = "PAY")]
    Pay,
    /// Reversals.
    #[serde(rename = "REV")]
    Rev,
    /// Daily reconciliation statement.
    #[serde(rename = "REC")]
    Rec,
}

impl BatchType {
    /// Parses `PAY`, `REV` or `REC`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PAY" => Some(Self::Pay),
            "REV" => Some(Self::Rev),
            "REC" => Some(Self::Rec),
            _ => None,
        }
    }

    /// The code as written in names and control files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pay => "PAY",
            Self::Rev => "REV",
            Self::Rec => "REC",
        }
    }
}

impl fmt::Display for BatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed archive name; its [`BatchName::batch_id`] is the name without `.zip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchName {
    /// Sender party code.
    pub sender: String,
    /// Receiver party code.
    pub receiver: String,
    /// Registry type.
    pub kind: BatchType,
    /// Business date.
    pub date: NaiveDate,
    /// The date as written (`YYYYMMDD`).
    pub date_text: String,
    /// Sequence number as written (3 to 6 digits).
    pub seq: String,
}

/// Why a name is not an archive name of the agreement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("file name {name:?} is not of the form SENDER_RECEIVER_TYPE_YYYYMMDD_SEQ.zip: {why}")]
pub struct NameError {
    /// The offending name, lossily decoded.
    pub name: String,
    /// What is wrong with it.
    pub why: &'static str,
}

fn party_ok(s: &str) -> bool {
    (2..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl BatchName {
    /// Parses a file name (not a path).
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let err = |why| NameError {
            name: name.to_string(),
            why,
        };
        let stem = name
            .strip_suffix(".zip")
            .ok_or_else(|| err("it does not end in .zip"))?;
        let parts: Vec<&str> = stem.split('_').collect();
        let [sender, receiver, kind, date, seq] = parts[..] else {
            return Err(err("it does not have five parts separated by '_'"));
        };
        if !party_ok(sender) || !party_ok(receiver) {
            return Err(err("a party code is not [A-Z0-9]{2,16}"));
        }
        let kind = BatchType::parse(kind).ok_or_else(|| err("the type is not PAY, REV or REC"))?;
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the date is not YYYYMMDD"));
        }
        // Year 0000 is not a calendar year (the Gregorian calendar goes from 1 BC to AD 1),
        // though chrono's proleptic calendar has it.
        let parsed = NaiveDate::parse_from_str(date, "%Y%m%d")
            .ok()
            .filter(|_| !date.starts_with("0000"))
            .ok_or_else(|| err("the date is not a calendar date"))?;
        if !(3..=6).contains(&seq.len()) || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the sequence number is not 3 to 6 digits"));
        }
        Ok(Self {
            sender: sender.to_string(),
            receiver: receiver.to_string(),
            kind,
            date: parsed,
            date_text: date.to_string(),
            seq: seq.to_string(),
        })
    }

    /// The batch id: the name without `.zip`.
    pub fn batch_id(&self) -> String {
        format!(
            "{}_{}_{}_{}_{}",
            self.sender, self.receiver, self.kind, self.date_text, self.seq
        )
    }

    /// The order in which waiting batches are handled (agreement §7.2): business date, then
    /// type (PAY, REV, REC), then sequence number; sender and the full id break ties.
    pub fn order_key(&self) -> (NaiveDate, BatchType, u32, String) {
        (
            self.date,
            self.kind,
            self.seq.parse().unwrap_or(u32::MAX),
            self.batch_id(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_example() {
        let n = BatchName::parse("MUNIS_SUDBILLING_PAY_20261121_001.zip").unwrap();
        assert_eq!(n.sender, "MUNIS");
        assert_eq!(n.receiver, "SUDBILLING");
        assert_eq!(n.kind, BatchType::Pay);
        assert_eq!(n.date, NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        assert_eq!(n.batch_id(), "MUNIS_SUDBILLING_PAY_20261121_001");
    }

    #[test]
    fn rejects_what_is_not_of_the_form() {
        for bad in [
            "MUNIS_SUDBILLING_PAY_20261121_001.ZIP",
            "MUNIS_SUDBILLING_PAY_20261121_001",
            "MUNIS_SUDBILLING_PAY_20261340_001.zip",
            "MUNIS_SUDBILLING_PAY_00001121_001.zip",
            "MUNIS_SUDBILLING_PAY_20260229_001.zip",
            "MUNIS_SUDBILLING_PAY_2026112_001.zip",
            "MUNIS_SUDBILLING_PAY_20261121_01.zip",
            "MUNIS_SUDBILLING_PAY_20261121_0000001.zip",
            "MUNIS_SUDBILLING_XXX_20261121_001.zip",
            "munis_SUDBILLING_PAY_20261121_001.zip",
            "M_SUDBILLING_PAY_20261121_001.zip",
            "MUNISMUNISMUNISMU_SUDBILLING_PAY_20261121_001.zip",
            "MUNIS_SUDBILLING_PAY_20261121_001_X.zip",
            "MUNIS_SUD-BILLING_PAY_20261121_001.zip",
            "MUNIS_SUDBILLING_PAY_20261121_00a.zip",
            "",
        ] {
            assert!(BatchName::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(BatchName::parse("AB_CD_REC_20240229_123456.zip").is_ok());
        // §2: party codes are [A-Z0-9]{2,16}, the receiver's as much as the sender's.
        for bad in [
            "MUNIS_S_PAY_20261121_001.zip",
            "MUNIS_SUDBILLINGXXXXXXX_PAY_20261121_001.zip",
            "MUNIS_sudbilling_PAY_20261121_001.zip",
        ] {
            assert!(BatchName::parse(bad).is_err(), "{bad:?} must be refused");
        }
        for good in [
            "ABCDEFGHIJKLMNOP_SUDBILLING_PAY_20261121_001.zip",
            "MUNIS2_SUDBILLING_PAY_20261121_001.zip",
            "MUNIS_ABCDEFGHIJKLMNOP_PAY_20261121_001.zip",
            "12_34_REV_20261121_999999.zip",
        ] {
            assert!(BatchName::parse(good).is_ok(), "{good:?} must be accepted");
        }
    }

    #[test]
    fn orders_by_date_then_type_then_sequence() {
        let mut v: Vec<BatchName> = [
            "MUNIS_SUDBILLING_REC_20261121_001.zip",
            "MUNIS_SUDBILLING_PAY_20261122_001.zip",
            "MUNIS_SUDBILLING_PAY_20261121_010.zip",
            "MUNIS_SUDBILLING_REV_20261121_001.zip",
            "MUNIS_SUDBILLING_PAY_20261121_002.zip",
            // Sequence numbers of other widths go by their number (9 < 10 < 11), not by text.
            "MUNIS_SUDBILLING_PAY_20261121_0011.zip",
            "MUNIS_SUDBILLING_PAY_20261121_009.zip",
        ]
        .iter()
        .map(|s| BatchName::parse(s).unwrap())
        .collect();
        v.sort_by_key(BatchName::order_key);
        let ids: Vec<String> = v.iter().map(BatchName::batch_id).collect();
        assert_eq!(
            ids,
            [
                "MUNIS_SUDBILLING_PAY_20261121_002",
                "MUNIS_SUDBILLING_PAY_20261121_009",
                "MUNIS_SUDBILLING_PAY_20261121_010",
                "MUNIS_SUDBILLING_PAY_20261121_0011",
                "MUNIS_SUDBILLING_REV_20261121_001",
                "MUNIS_SUDBILLING_REC_20261121_001",
                "MUNIS_SUDBILLING_PAY_20261122_001",
            ]
        );
    }
}
