//! Archive names of agreement §2: `{SENDER}_{RECEIVER}_{TYPE}_{YYYYMMDD}_{SEQ}.zip`.

use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

/// What a registry type's rows do to the books: the reconciliation of agreement §5.1–§5.3 and
/// §7.2 they get. The agreement's types are their own roles; a type a schemas folder adds names
/// the role it takes (`reconcileAs`, see [`crate::schema`]). The order is that of §7.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Role {
    /// Payments credited for invoices (§5.1).
    #[serde(rename = "PAY")]
    Pay,
    /// Reversals of earlier payments (§5.2).
    #[serde(rename = "REV")]
    Rev,
    /// The daily statement (§5.3).
    #[serde(rename = "REC")]
    Rec,
}

impl Role {
    /// Every role, in the order of §7.2.
    pub const ALL: [Role; 3] = [Role::Pay, Role::Rev, Role::Rec];

    /// Parses `PAY`, `REV` or `REC`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The agreement's type code that has this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pay => "PAY",
            Self::Rev => "REV",
            Self::Rec => "REC",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest type code: a type code is written like a party code, `[A-Z0-9]{2,16}`.
const CODE_MAX: usize = 16;

/// A registry type (agreement §2): its code as written in names and control files, and its
/// [`Role`]. The agreement's three are [`BatchType::PAY`], [`BatchType::REV`] and
/// [`BatchType::REC`]; a schemas folder may add more ([`Types`]). Types order as §7.2 orders
/// batches: by role (PAY, REV, REC); within a role the agreement's type first, then the added
/// ones in byte order of their code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchType {
    role: Role,
    code: [u8; CODE_MAX],
    len: u8,
}

impl BatchType {
    /// Payments (§5.1).
    pub const PAY: BatchType = BatchType::agreement(Role::Pay);
    /// Reversals (§5.2).
    pub const REV: BatchType = BatchType::agreement(Role::Rev);
    /// The daily statement (§5.3).
    pub const REC: BatchType = BatchType::agreement(Role::Rec);

    const fn agreement(role: Role) -> Self {
        let [a, b, c] = match role {
            Role::Pay => *b"PAY",
            Role::Rev => *b"REV",
            Role::Rec => *b"REC",
        };
        let mut code = [0u8; CODE_MAX];
        code[0] = a;
        code[1] = b;
        code[2] = c;
        Self { role, code, len: 3 }
    }

    /// A type of this code and role, when the code is a valid type code (`[A-Z0-9]{2,16}`).
    pub fn new(code: &str, role: Role) -> Option<Self> {
        if !party_ok(code) {
            return None;
        }
        let mut buf = [0u8; CODE_MAX];
        buf.get_mut(..code.len())?.copy_from_slice(code.as_bytes());
        Some(Self {
            role,
            code: buf,
            len: u8::try_from(code.len()).ok()?,
        })
    }

    /// The code as written in names and control files.
    pub fn as_str(&self) -> &str {
        // The code is ASCII by construction (`new`, `agreement`).
        self.code
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// What its rows do to the books.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether it is one of the agreement's three types rather than one a schemas folder adds.
    pub fn is_agreements(&self) -> bool {
        *self == Self::agreement(self.role)
    }
}

impl Ord for BatchType {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |t: &Self| (t.role, !t.is_agreements(), t.code, t.len);
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for BatchType {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for BatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for BatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_agreements() {
            write!(f, "{}", self.as_str())
        } else {
            write!(f, "{} (as {})", self.as_str(), self.role)
        }
    }
}

impl Serialize for BatchType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The registry types in force: the agreement's three, and those a schemas folder adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Types(Vec<BatchType>);

impl Types {
    /// The agreement's three types (§2).
    pub fn agreement() -> Self {
        Self(vec![BatchType::PAY, BatchType::REV, BatchType::REC])
    }

    /// The agreement's types and `more`, in the order of §7.2.
    pub fn with(more: impl IntoIterator<Item = BatchType>) -> Self {
        let mut all = Self::agreement().0;
        all.extend(more);
        all.sort();
        all.dedup_by(|a, b| a.as_str() == b.as_str());
        Self(all)
    }

    /// The type of this code, when it is in force.
    pub fn parse(&self, s: &str) -> Option<BatchType> {
        self.0.iter().copied().find(|t| t.as_str() == s)
    }

    /// Every type in force, in the order of §7.2.
    pub fn iter(&self) -> impl Iterator<Item = BatchType> + '_ {
        self.0.iter().copied()
    }

    fn why_not(&self) -> &'static str {
        if self.0.iter().all(BatchType::is_agreements) {
            "the type is not PAY, REV or REC"
        } else {
            "the type is not PAY, REV, REC or a type the schemas folder adds"
        }
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
    /// Parses a file name (not a path) whose type is one of the agreement's three.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        Self::parse_with(name, &Types::agreement())
    }

    /// Parses a file name (not a path) whose type is one of `types`.
    pub fn parse_with(name: &str, types: &Types) -> Result<Self, NameError> {
        Self::parse_typed(name, |code| types.parse(code), types.why_not())
    }

    /// Whether `name` is of the form with some type code (`[A-Z0-9]{2,16}`), in force or not:
    /// a batch of a type the schemas folder no longer adds.
    pub fn of_some_type(name: &str) -> bool {
        Self::parse_typed(name, |code| BatchType::new(code, Role::Pay), "").is_ok()
    }

    fn parse_typed(
        name: &str,
        type_of: impl Fn(&str) -> Option<BatchType>,
        not_a_type: &'static str,
    ) -> Result<Self, NameError> {
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
        let kind = type_of(kind).ok_or_else(|| err(not_a_type))?;
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
    /// type (PAY, REV, REC; a type a schemas folder adds comes after the agreement's type of its
    /// role), then sequence number; sender and the full id break ties.
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
        assert_eq!(n.kind, BatchType::PAY);
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

    /// The batch ids of `names` in the order waiting batches are handled.
    fn ordered(names: &[&str], types: &Types) -> Vec<String> {
        let mut v: Vec<BatchName> = names
            .iter()
            .map(|s| BatchName::parse_with(s, types).unwrap())
            .collect();
        v.sort_by_key(BatchName::order_key);
        v.iter().map(BatchName::batch_id).collect()
    }

    #[test]
    fn orders_by_date_then_type_then_sequence() {
        let ids = ordered(
            &[
                "MUNIS_SUDBILLING_REC_20261121_001.zip",
                "MUNIS_SUDBILLING_PAY_20261122_001.zip",
                "MUNIS_SUDBILLING_PAY_20261121_010.zip",
                "MUNIS_SUDBILLING_REV_20261121_001.zip",
                "MUNIS_SUDBILLING_PAY_20261121_002.zip",
                // Sequence numbers of other widths go by their number (9 < 10 < 11), not by text.
                "MUNIS_SUDBILLING_PAY_20261121_0011.zip",
                "MUNIS_SUDBILLING_PAY_20261121_009.zip",
            ],
            &Types::agreement(),
        );
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

    #[test]
    fn a_type_a_schemas_folder_adds_is_read_in_names_and_ordered_by_its_role() {
        let fee = BatchType::new("FEE", Role::Pay).unwrap();
        let rfe = BatchType::new("RFE", Role::Rec).unwrap();
        for bad in ["fee", "F", "ABCDEFGHIJKLMNOPQ", "FE-E", ""] {
            assert!(BatchType::new(bad, Role::Pay).is_none(), "{bad:?}");
        }
        for good in ["AB", "ABCDEFGHIJKLMNOP", "F2", "PAY"] {
            assert_eq!(BatchType::new(good, Role::Rev).unwrap().as_str(), good);
        }
        assert_eq!(BatchType::new("PAY", Role::Pay), Some(BatchType::PAY));
        assert!(!fee.is_agreements() && BatchType::REC.is_agreements());
        let types = Types::with([rfe, fee]);
        let name = "MUNIS_SUDBILLING_FEE_20261121_001.zip";
        let n = BatchName::parse_with(name, &types).unwrap();
        assert_eq!((n.kind, n.kind.role()), (fee, Role::Pay));
        assert_eq!(n.batch_id(), "MUNIS_SUDBILLING_FEE_20261121_001");
        assert_eq!(
            BatchName::parse(name).unwrap_err().why,
            "the type is not PAY, REV or REC"
        );
        assert_eq!(
            BatchName::parse_with("MUNIS_SUDBILLING_XXX_20261121_001.zip", &types)
                .unwrap_err()
                .why,
            "the type is not PAY, REV, REC or a type the schemas folder adds"
        );
        assert!(BatchName::of_some_type(name));
        assert!(!BatchName::of_some_type(
            "MUNIS_SUDBILLING_fee_20261121_001.zip"
        ));
        // §7.2's order by role: the agreement's type of a role first, then those added.
        let ids = ordered(
            &[
                "MUNIS_SUDBILLING_RFE_20261121_001.zip",
                "MUNIS_SUDBILLING_REC_20261121_001.zip",
                "MUNIS_SUDBILLING_REV_20261121_001.zip",
                "MUNIS_SUDBILLING_FEE_20261121_001.zip",
                "MUNIS_SUDBILLING_PAY_20261121_002.zip",
            ],
            &types,
        );
        assert_eq!(
            ids,
            [
                "MUNIS_SUDBILLING_PAY_20261121_002",
                "MUNIS_SUDBILLING_FEE_20261121_001",
                "MUNIS_SUDBILLING_REV_20261121_001",
                "MUNIS_SUDBILLING_REC_20261121_001",
                "MUNIS_SUDBILLING_RFE_20261121_001",
            ]
        );
        assert_eq!(
            types.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            ["PAY", "FEE", "REV", "REC", "RFE"]
        );
    }
}
