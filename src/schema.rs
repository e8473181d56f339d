//! Stage 4c: registry schemas as data (`schemas/*.json`), modelled on Frictionless Table Schema.
//!
//! A schema names the fields in header order with their type (`string`, `amount`, `datetime`),
//! Table Schema constraints (`required`, `pattern`, `enum`, `minLength`, `maxLength`,
//! `exclusiveMinimum`) and at most one `rule` tying the field to another field or to the
//! control record (`partyIdOf`, `accountKeyOf`, `notAfter`, `onDate`). The schemas of the
//! agreement are built into the binary; a `schemas` folder in the configuration replaces them,
//! and may add registry types: `FEE.json` with `"reconcileAs": "PAY"` makes `FEE` a type whose
//! rows are reconciled as payments are (see [`Schemas::from_dir`]).

use crate::amount;
use crate::name::{BatchType, Role, Types};
use chrono::NaiveDateTime;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The built-in schemas, by file name.
pub const BUILT_IN: [(&str, &str); 4] = [
    ("PAY.json", include_str!("../schemas/PAY.json")),
    ("REV.json", include_str!("../schemas/REV.json")),
    ("REC.json", include_str!("../schemas/REC.json")),
    ("invoices.json", include_str!("../schemas/invoices.json")),
];

/// A schema that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("schema {file}: {message}")]
pub struct SchemaError {
    /// The schema file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSchema {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    title: Option<String>,
    #[serde(default)]
    dialect: Option<RawDialect>,
    primary_key: Option<String>,
    amount_field: Option<String>,
    /// The role of a registry type a schemas folder adds: `PAY`, `REV` or `REC`.
    reconcile_as: Option<String>,
    fields: Vec<RawField>,
}

/// A CSV Dialect description. The engine reads the agreement's dialect (§5) only, so each
/// key given must have the agreement's value: a schema cannot ask for another one and be
/// silently read in this one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDialect {
    delimiter: Option<String>,
    quote_char: Option<String>,
    double_quote: Option<bool>,
    header: Option<bool>,
}

impl RawDialect {
    /// The first key whose value is not the agreement's, with that value.
    fn other_than_the_agreements(&self) -> Option<String> {
        let text = |key: &str, v: &Option<String>, want: &str| {
            v.as_deref()
                .filter(|v| *v != want)
                .map(|v| format!("{key} {v:?}"))
        };
        let flag = |key: &str, v: Option<bool>| v.filter(|v| !v).map(|v| format!("{key} {v}"));
        text("delimiter", &self.delimiter, ";")
            .or_else(|| text("quoteChar", &self.quote_char, "\""))
            .or_else(|| flag("doubleQuote", self.double_quote))
            .or_else(|| flag("header", self.header))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    constraints: RawConstraints,
    #[serde(default)]
    rule: Option<BTreeMap<String, String>>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    /// Documentation, as `description` is.
    #[serde(default)]
    #[allow(dead_code)]
    title: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConstraints {
    #[serde(default)]
    required: bool,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    one_of: Option<Vec<String>>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    exclusive_minimum: Option<String>,
}

/// A field's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text.
    String,
    /// Money, `[0-9]{1,13}\.[0-9]{2}`, held in tiyin.
    Amount,
    /// `YYYY-MM-DD HH:MM:SS`, Tashkent time.
    DateTime,
}

/// A compiled `pattern` constraint (anchored at both ends, as in Table Schema).
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `[0-9]{min,max}`, checked without a regex engine.
    Digits(usize, usize),
    /// Any other regular expression.
    Regex(Regex),
}

impl Pattern {
    fn compile(p: &str) -> Result<Self, String> {
        if let Some(inner) = p.strip_prefix("[0-9]{").and_then(|r| r.strip_suffix('}')) {
            let (a, b) = inner.split_once(',').unwrap_or((inner, inner));
            if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                if a > b {
                    return Err(format!("pattern {p:?}: {{{a},{b}}} matches nothing"));
                }
                return Ok(Self::Digits(a, b));
            }
        }
        // The regex engine's message spans several lines (the pattern, a caret, the error):
        // its last line says what is wrong, on the one line a message has.
        // The pattern is checked alone first: wrapped, `a)|(b` would be a valid expression that
        // is no longer anchored.
        Regex::new(p)
            .and_then(|_| Regex::new(&format!("^(?:{p})$")))
            .map(Self::Regex)
            .map_err(|e| {
                let e = e.to_string();
                let why = e.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                format!("pattern {p:?} is not a regular expression: {}", why.trim())
            })
    }

    /// Whether the whole text matches.
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Self::Digits(a, b) => {
                (*a..=*b).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit())
            }
            Self::Regex(r) => r.is_match(s),
        }
    }
}

/// A rule tying a field to another field or to the control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// PINFL or TIN according to the payer type in field `.0`.
    PartyIdOf(usize),
    /// Account key checked with the bank code in field `.0`.
    AccountKeyOf(usize),
    /// A datetime not after the control record's `created_at`.
    NotAfterCreatedAt,
    /// A datetime on the control record's `business_date`.
    OnBusinessDate,
}

/// One column of a registry.
#[derive(Debug, Clone)]
pub struct Field {
    /// Column name, as in the header.
    pub name: String,
    /// Value type.
    pub kind: FieldType,
    /// An empty value is `201` when set.
    pub required: bool,
    /// Anchored pattern.
    pub pattern: Option<Pattern>,
    /// Allowed values.
    pub one_of: Option<Vec<String>>,
    /// Least length in characters.
    pub min_length: Option<usize>,
    /// Greatest length in characters.
    pub max_length: Option<usize>,
    /// Amounts must be greater than this (tiyin).
    pub exclusive_minimum: Option<i64>,
    /// Rule against another field or the control record.
    pub rule: Option<Rule>,
}

/// A compiled registry schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Schema name (`PAY`, `REV`, `REC`, `invoices`).
    pub name: String,
    /// Fields in header order.
    pub fields: Vec<Field>,
    /// Index of the key field (`payment_id`, `invoice_no`).
    pub primary_key: Option<usize>,
    /// Index of the field summed into `amount_total`.
    pub amount_field: Option<usize>,
    /// `reconcileAs`: the role of the registry type, when the schema says it.
    pub reconcile_as: Option<Role>,
    /// SHA-256 (hex) of the schema's JSON in one canonical form (spacing and line breaks do not
    /// count): journaled with every batch and export judged under it, so that `replay` and
    /// `audit verify` can tell an answer given under another schema from one that is not.
    pub fingerprint: String,
    /// That canonical form, whose SHA-256 is the fingerprint: what the engine keeps of the
    /// schema (`schemas/<fingerprint>.json` in the data folder), so that an answer given under
    /// it can be judged again under it once another is in force.
    pub canonical: String,
}

/// How a message names field `i` (0-based) of a header line: `header column N`.
pub fn header_label(i: usize) -> String {
    format!("header column {}", i.saturating_add(1))
}

impl Schema {
    /// How a message names field `i` (0-based) of a data record: `field NAME`, or `column N`
    /// past the schema's fields.
    pub fn field_label(&self, i: usize) -> String {
        self.fields.get(i).map_or_else(
            || format!("column {}", i.saturating_add(1)),
            |f| format!("field {}", f.name),
        )
    }

    /// Parses and compiles a schema document.
    pub fn parse(file: &str, json: &str) -> Result<Self, SchemaError> {
        let err = |message: String| SchemaError {
            file: file.to_string(),
            message,
        };
        let raw: RawSchema = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
        // What the file says, not how it is laid out: its JSON in one canonical form.
        let canonical = serde_json::from_str::<serde_json::Value>(json)
            .map(|v| v.to_string())
            .map_err(|e| err(e.to_string()))?;
        let fingerprint = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&canonical));
        if let Some(other) = raw
            .dialect
            .as_ref()
            .and_then(RawDialect::other_than_the_agreements)
        {
            return Err(err(format!(
                "dialect: {other} is not read; the engine reads the agreement's dialect (§5): delimiter \";\", quoteChar \"\\\"\", doubleQuote true, header true"
            )));
        }
        if raw.fields.is_empty() {
            return Err(err("no fields".into()));
        }
        let names: Vec<String> = raw.fields.iter().map(|f| f.name.clone()).collect();
        if let Some((i, n)) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names.get(..*i).is_some_and(|before| before.contains(n)))
        {
            return Err(err(format!(
                "field {n:?} appears twice (field {})",
                i.saturating_add(1)
            )));
        }
        let index = |n: &str| names.iter().position(|x| x == n);
        let mut fields = Vec::with_capacity(raw.fields.len());
        for (i, f) in raw.fields.into_iter().enumerate() {
            if f.name.is_empty() {
                return Err(err(format!(
                    "field {} has an empty name",
                    i.saturating_add(1)
                )));
            }
            if f.format.is_some() && f.kind != "datetime" {
                return Err(err(format!(
                    "field {}: format applies to datetime fields only",
                    f.name
                )));
            }
            let kind = match f.kind.as_str() {
                "string" => FieldType::String,
                "amount" => FieldType::Amount,
                "datetime" => {
                    if f.format
                        .as_deref()
                        .is_some_and(|x| x != "%Y-%m-%d %H:%M:%S")
                    {
                        return Err(err(format!(
                            "field {}: only the format %Y-%m-%d %H:%M:%S is supported",
                            f.name
                        )));
                    }
                    FieldType::DateTime
                }
                other => return Err(err(format!("field {}: unknown type {other:?}", f.name))),
            };
            let c = f.constraints;
            let pattern = c
                .pattern
                .as_deref()
                .map(Pattern::compile)
                .transpose()
                .map_err(|e| err(format!("field {}: {e}", f.name)))?;
            if let (Some(min), Some(max)) = (c.min_length, c.max_length)
                && min > max
            {
                return Err(err(format!(
                    "field {}: minLength {min} is over maxLength {max}: no value would pass",
                    f.name
                )));
            }
            if c.one_of.as_ref().is_some_and(Vec::is_empty) {
                return Err(err(format!(
                    "field {}: an empty enum: no value would pass",
                    f.name
                )));
            }
            if c.exclusive_minimum.is_some() && kind != FieldType::Amount {
                return Err(err(format!(
                    "field {}: exclusiveMinimum applies to amounts only",
                    f.name
                )));
            }
            let exclusive_minimum = match c.exclusive_minimum {
                None => None,
                Some(s) => Some(
                    amount::parse(&s)
                        .ok_or_else(|| err(format!("field {}: bad exclusiveMinimum", f.name)))?,
                ),
            };
            let rule = match f.rule {
                None => None,
                Some(map) => {
                    let mut it = map.into_iter();
                    let (k, v) = it
                        .next()
                        .ok_or_else(|| err(format!("field {}: empty rule", f.name)))?;
                    if it.next().is_some() {
                        return Err(err(format!("field {}: one rule per field", f.name)));
                    }
                    let earlier = |v: &str| match index(v) {
                        Some(j) if j < i => Ok(j),
                        _ => Err(err(format!(
                            "field {}: rule {k} needs an earlier field, not {v:?}",
                            f.name
                        ))),
                    };
                    let on = |want: FieldType, what: &str| {
                        if kind == want {
                            Ok(())
                        } else {
                            Err(err(format!(
                                "field {}: rule {k} applies to {what} fields only",
                                f.name
                            )))
                        }
                    };
                    Some(match (k.as_str(), v.as_str()) {
                        ("partyIdOf", v) => {
                            on(FieldType::String, "string")?;
                            Rule::PartyIdOf(earlier(v)?)
                        }
                        ("accountKeyOf", v) => {
                            on(FieldType::String, "string")?;
                            Rule::AccountKeyOf(earlier(v)?)
                        }
                        ("notAfter", "created_at") => {
                            on(FieldType::DateTime, "datetime")?;
                            Rule::NotAfterCreatedAt
                        }
                        ("onDate", "business_date") => {
                            on(FieldType::DateTime, "datetime")?;
                            Rule::OnBusinessDate
                        }
                        (k, v) => {
                            return Err(err(format!("field {}: unknown rule {k}={v}", f.name)));
                        }
                    })
                }
            };
            fields.push(Field {
                name: f.name,
                kind,
                required: c.required,
                pattern,
                one_of: c.one_of,
                min_length: c.min_length,
                max_length: c.max_length,
                exclusive_minimum,
                rule,
            });
        }
        let pick = |what: &str, n: Option<String>| -> Result<Option<usize>, SchemaError> {
            n.map(|n| index(&n).ok_or_else(|| err(format!("{what} {n:?} is not a field"))))
                .transpose()
        };
        let reconcile_as = raw
            .reconcile_as
            .map(|r| {
                Role::parse(&r).ok_or_else(|| {
                    err(format!(
                        "reconcileAs {r:?} is not PAY, REV or REC, the reconciliations the engine knows"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            name: raw.name,
            reconcile_as,
            primary_key: pick("primaryKey", raw.primary_key)?,
            amount_field: pick("amountField", raw.amount_field)?,
            fields,
            fingerprint,
            canonical,
        })
    }

    /// Index of the field with this name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The header line's field names.
    pub fn header(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }
}

/// The schemas in force: one per registry type and one for the invoice export.
#[derive(Debug, Clone)]
pub struct Schemas {
    /// `PAY`.
    pub pay: Schema,
    /// `REV`.
    pub rev: Schema,
    /// `REC`.
    pub rec: Schema,
    /// The billing export.
    pub invoices: Schema,
    /// The registry types a schemas folder adds, each with its schema, in the order of §7.2.
    added: Vec<(BatchType, Schema)>,
    /// Every registry type in force, to read archive names with.
    types: Types,
}

impl Schemas {
    /// The schemas built into the binary: the agreement's three types and the export.
    pub fn built_in() -> Result<Self, SchemaError> {
        Self::from_sources(
            |file| {
                BUILT_IN
                    .iter()
                    .find(|(n, _)| *n == file)
                    .map(|(_, s)| s.to_string())
                    .ok_or_else(|| SchemaError {
                        file: file.into(),
                        message: "not built in".into(),
                    })
            },
            &[],
        )
    }

    /// Schemas read from a folder holding `PAY.json`, `REV.json`, `REC.json` and
    /// `invoices.json`. Any other `*.json` file in it adds a registry type: its name (the file's
    /// stem) is the type code, written like a party code (`[A-Z0-9]{2,16}`), and its
    /// `reconcileAs` names the agreement's type whose reconciliation its rows get. A file of
    /// another name is refused, as is a `reconcileAs` on one of the agreement's own schemas
    /// that names another type than its own.
    pub fn from_dir(dir: &Path) -> Result<Self, SchemaError> {
        let at = |p: &Path, e: std::io::Error| SchemaError {
            file: p.display().to_string(),
            message: e.to_string(),
        };
        let mut more = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| at(dir, e))? {
            let path = entry.map_err(|e| at(dir, e))?.path();
            let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = file.strip_suffix(".json") else {
                continue;
            };
            if ["PAY.json", "REV.json", "REC.json", "invoices.json"].contains(&file) {
                continue;
            }
            if BatchType::new(stem, Role::Pay).is_none() {
                return Err(SchemaError {
                    file: path.display().to_string(),
                    message: format!(
                        "{stem:?} is not a registry type code ([A-Z0-9]{{2,16}}) nor invoices: a schemas folder holds PAY.json, REV.json, REC.json, invoices.json and the schemas of the types it adds"
                    ),
                });
            }
            more.push(file.to_string());
        }
        more.sort();
        Self::from_sources(
            |file| {
                let p = dir.join(file);
                std::fs::read_to_string(&p).map_err(|e| at(&p, e))
            },
            &more,
        )
    }

    fn from_sources(
        read: impl Fn(&str) -> Result<String, SchemaError>,
        more: &[String],
    ) -> Result<Self, SchemaError> {
        let load = |f: &str| {
            let schema = Schema::parse(f, &read(f)?)?;
            // Messages name a schema by its `name` and the file it is read from by that name.
            match f.strip_suffix(".json") {
                Some(stem) if stem == schema.name => Ok(schema),
                _ => Err(SchemaError {
                    file: f.into(),
                    message: format!("name {:?} is not the file's", schema.name),
                }),
            }
        };
        let refuse = |f: &str, message: String| SchemaError {
            file: f.into(),
            message,
        };
        let agreements = |role: Role, f: &str| {
            let schema = load(f)?;
            match schema.reconcile_as.filter(|r| *r != role) {
                Some(other) => Err(refuse(
                    f,
                    format!(
                        "reconcileAs {other}: the agreement's {role} rows are reconciled as {role}"
                    ),
                )),
                None => Ok(schema),
            }
        };
        let mut added = Vec::new();
        for f in more {
            let schema = load(f)?;
            let role = schema.reconcile_as.ok_or_else(|| {
                refuse(
                    f,
                    "a registry type the agreement does not define needs reconcileAs (PAY, REV or REC): how its rows are reconciled".into(),
                )
            })?;
            let t = BatchType::new(&schema.name, role)
                .ok_or_else(|| refuse(f, "the type code is not [A-Z0-9]{2,16}".into()))?;
            added.push((t, schema));
        }
        added.sort_by_key(|(t, _)| *t);
        Ok(Self {
            pay: agreements(Role::Pay, "PAY.json")?,
            rev: agreements(Role::Rev, "REV.json")?,
            rec: agreements(Role::Rec, "REC.json")?,
            invoices: load("invoices.json").and_then(|s| match s.reconcile_as {
                Some(r) => Err(refuse(
                    "invoices.json",
                    format!("reconcileAs {r}: the billing export is not a registry; it is loaded, not reconciled"),
                )),
                None => Ok(s),
            })?,
            types: Types::with(added.iter().map(|(t, _)| *t)),
            added,
        })
    }

    /// These schemas with `schema` in place of the one of type `t` (of the agreement's types or
    /// one added), or added for `t` when no schema in force is of that type: the schemas of
    /// another time, for judging again what was judged under them. The types in force (for
    /// reading names) stay those in force.
    pub fn with_schema(&self, t: BatchType, schema: Schema) -> Self {
        let mut s = self.clone();
        match t {
            BatchType::PAY => s.pay = schema,
            BatchType::REV => s.rev = schema,
            BatchType::REC => s.rec = schema,
            _ => match s.added.iter_mut().find(|(k, _)| *k == t) {
                Some((_, slot)) => *slot = schema,
                // A type no longer in force, judged again under its schema of then.
                None => {
                    s.added.push((t, schema));
                    s.added.sort_by_key(|(k, _)| *k);
                }
            },
        }
        s
    }

    /// The schema of a registry type in force.
    pub fn for_type(&self, t: BatchType) -> Option<&Schema> {
        match t {
            BatchType::PAY => Some(&self.pay),
            BatchType::REV => Some(&self.rev),
            BatchType::REC => Some(&self.rec),
            _ => self.added.iter().find(|(k, _)| *k == t).map(|(_, s)| s),
        }
    }

    /// The registry types in force, each with its schema, in the order of §7.2.
    pub fn registries(&self) -> impl Iterator<Item = (BatchType, &Schema)> {
        [
            (BatchType::PAY, &self.pay),
            (BatchType::REV, &self.rev),
            (BatchType::REC, &self.rec),
        ]
        .into_iter()
        .chain(self.added.iter().map(|(t, s)| (*t, s)))
    }

    /// The registry types in force.
    pub fn types(&self) -> &Types {
        &self.types
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS` strictly (exactly 19 characters, two-digit parts, a calendar
/// date from year 0001 on).
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let b: &[u8; 19] = s.as_bytes().try_into().ok()?;
    if (b[4], b[7], b[10], b[13], b[16]) != (b'-', b'-', b' ', b':', b':') {
        return None;
    }
    // A part's digits as a number; `None` unless every one is a digit.
    let n = |part: &[u8]| {
        part.iter().try_fold(0u32, |a, d| {
            // In range: at most four digits; an ASCII digit's low four bits are its value.
            #[allow(clippy::arithmetic_side_effects)]
            d.is_ascii_digit().then(|| a * 10 + u32::from(d & 0x0f))
        })
    };
    let (year, month, day) = (n(&b[0..4])?, n(&b[5..7])?, n(&b[8..10])?);
    let (hour, minute, second) = (n(&b[11..13])?, n(&b[14..16])?, n(&b[17..19])?);
    // Year 0000 is not a calendar year (as in archive names, `name.rs`): the Gregorian
    // calendar goes from 1 BC to AD 1, though chrono's proleptic calendar has a year 0.
    if year == 0 {
        return None;
    }
    chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_opt(hour, minute, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_schemas_load_with_the_agreement_headers() {
        let s = Schemas::built_in().unwrap();
        let h = |s: &Schema| s.header().collect::<Vec<_>>().join(";");
        assert_eq!(
            h(&s.pay),
            "payment_id;paid_at;invoice_no;payer_type;payer_id;payer_name;amount;currency;bank_mfo;account;purpose"
        );
        assert_eq!(h(&s.rev), "payment_id;reversed_at;amount;reason");
        assert_eq!(h(&s.rec), "payment_id;paid_at;invoice_no;amount;state");
        assert_eq!(
            h(&s.invoices),
            "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"
        );
        assert_eq!(s.pay.fields[4].rule, Some(Rule::PartyIdOf(3)));
        assert_eq!(s.pay.fields[9].rule, Some(Rule::AccountKeyOf(8)));
    }

    #[test]
    fn patterns_are_anchored() {
        let d = Pattern::compile("[0-9]{12,20}").unwrap();
        assert!(matches!(d, Pattern::Digits(12, 20)));
        assert!(
            d.matches("123456789012") && !d.matches("12345678901") && !d.matches("12345678901a")
        );
        let r = Pattern::compile("[A-Z]{2}").unwrap();
        assert!(r.matches("AB") && !r.matches("ABC") && !r.matches("xAB"));
    }

    #[test]
    fn bad_schemas_are_refused_with_the_file_named() {
        let e = Schema::parse(
            "X.json",
            r#"{"name":"X","fields":[{"name":"a","type":"float"}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("X.json") && e.to_string().contains("float"));
        let e = Schema::parse("X.json", r#"{"name":"X","fields":[{"name":"a","type":"string","rule":{"partyIdOf":"b"}},{"name":"b","type":"string"}]}"#).unwrap_err();
        assert!(e.to_string().contains("earlier field"));
        // What a schema says is either done or refused, never silently ignored.
        let refused = |json: &str| {
            Schema::parse("X.json", json)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let field = r#"[{"name":"a","type":"string"}]"#;
        for (json, said) in [
            (format!(r#"{{"name":"X","primarykey":"a","fields":{field}}}"#), "unknown field `primarykey`"),
            (format!(r#"{{"name":"X","dialect":{{"delimiter":","}},"fields":{field}}}"#), r#"dialect: delimiter "," is not read"#),
            (format!(r#"{{"name":"X","dialect":{{"header":false}},"fields":{field}}}"#), "dialect: header false is not read"),
            (format!(r#"{{"name":"X","dialect":{{"quoteChar":"'"}},"fields":{field}}}"#), r#"dialect: quoteChar "'" is not read"#),
            (format!(r#"{{"name":"X","dialect":{{"lineTerminator":"
"}},"fields":{field}}}"#), "unknown field `lineTerminator`"),
            (r#"{"name":"X","fields":[]}"#.into(), "no fields"),
            (r#"{"name":"X","fields":[{"name":"","type":"string"}]}"#.into(), "field 1 has an empty name"),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","constraints":{"pattern":"a)b"}}]}"#.into(), r#"field a: pattern "a)b" is not a regular expression: error: "#),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","constraints":{"pattern":"[0-9]{5})|(?:.*"}}]}"#.into(), r#"field a: pattern "[0-9]{5})|(?:.*" is not a regular expression"#),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","constraints":{"pattern":"[0-9]{5,3}"}}]}"#.into(), "field a: pattern \"[0-9]{5,3}\": {5,3} matches nothing"),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","constraints":{"minLength":3,"maxLength":2}}]}"#.into(), "field a: minLength 3 is over maxLength 2"),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","rule":{"partyIdOf":"a"}}]}"#.into(), r#"field a: rule partyIdOf needs an earlier field, not "a""#),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","constraints":{"enum":[]}}]}"#.into(), "field a: an empty enum"),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","format":"email"}]}"#.into(), "field a: format applies to datetime fields only"),
            (r#"{"name":"X","fields":[{"name":"a","type":"string"},{"name":"a","type":"string"}]}"#.into(), r#"field "a" appears twice (field 2)"#),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","constraints":{"exclusiveMinimum":"0.00"}}]}"#.into(), "field a: exclusiveMinimum applies to amounts only"),
            (r#"{"name":"X","fields":[{"name":"a","type":"string","rule":{"notAfter":"created_at"}}]}"#.into(), "field a: rule notAfter applies to datetime fields only"),
            (r#"{"name":"X","fields":[{"name":"a","type":"datetime","rule":{"onDate":"business_date"}},{"name":"b","type":"amount","rule":{"partyIdOf":"a"}}]}"#.into(), "field b: rule partyIdOf applies to string fields only"),
        ] {
            let e = refused(&json);
            assert!(e.starts_with("schema X.json: ") && e.contains(said), "{json}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        // The agreement's dialect, given in full or in part, is taken.
        assert!(Schema::parse("X.json", &format!(r#"{{"name":"X","dialect":{{"delimiter":";","quoteChar":"\"","doubleQuote":true,"header":true}},"fields":{field}}}"#)).is_ok());
        assert!(
            Schema::parse(
                "X.json",
                &format!(r#"{{"name":"X","dialect":{{"delimiter":";"}},"fields":{field}}}"#)
            )
            .is_ok()
        );
        // A length fixed by equal bounds is a constraint some value passes.
        assert!(Schema::parse("X.json", r#"{"name":"X","fields":[{"name":"a","type":"string","constraints":{"minLength":3,"maxLength":3}}]}"#).is_ok());
        // A schema is read from the file of its name.
        let e = Schemas::from_sources(
            |f| {
                let text = if f == "REV.json" {
                    BUILT_IN.iter().find(|(n, _)| *n == "PAY.json")
                } else {
                    BUILT_IN.iter().find(|(n, _)| *n == f)
                };
                Ok(text.map(|(_, t)| t.to_string()).unwrap_or_default())
            },
            &[],
        )
        .map(|_| ())
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"schema REV.json: name "PAY" is not the file's"#
        );
    }

    #[test]
    fn datetimes_are_strict() {
        assert!(parse_datetime("2026-11-21 13:22:10").is_some());
        assert!(parse_datetime("0001-01-01 00:00:00").is_some());
        for bad in [
            "2026-11-21T13:22:10",
            "2026-1-21 13:22:10",
            "2026-13-45 00:00:00",
            "2026-11-21 24:00:00",
            "2026-11-21 23:59:60",
            "2026-11-21 13:22",
            "2026-02-29 00:00:00",
            " 2026-11-21 13:22:10",
            "0000-01-01 00:00:00",
            "0000-12-31 23:59:59",
        ] {
            assert!(parse_datetime(bad).is_none(), "{bad}");
        }
    }
}
