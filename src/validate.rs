//! Stage 5: field checks of a decoded row against its schema (row codes `201` and `202`).
//!
//! Fields are checked in column order; the first that fails gives the row its status. A rule
//! between two fields is a failure of the later one (agreement §7.2).

use crate::amount;
use crate::code::RowStatus;
use crate::ident;
use crate::schema::{self, FieldType, Rule, Schema};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset};

/// A field's text: up to 24 bytes kept inline, without an allocation of its own.
pub type Text = compact_str::CompactString;

/// Tashkent time, in which registry datetimes are written (+05:00).
pub fn tashkent() -> FixedOffset {
    // Five hours is within chrono's ±24 h: the fallback is never taken.
    FixedOffset::east_opt(5 * 3600).unwrap_or(chrono::Utc.fix())
}

/// What the rules need from the control record.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The batch's `created_at`.
    pub created_at: DateTime<FixedOffset>,
    /// The batch's business date.
    pub business_date: NaiveDate,
}

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An empty optional field.
    Missing,
    /// Text.
    Text(Text),
    /// Money in tiyin.
    Amount(i64),
    /// A Tashkent datetime.
    DateTime(NaiveDateTime),
}

impl Value {
    /// The text of a text value (empty otherwise).
    pub fn text(&self) -> &str {
        match self {
            Value::Text(s) => s,
            _ => "",
        }
    }

    /// The tiyin of an amount (0 otherwise).
    pub fn amount(&self) -> i64 {
        match self {
            Value::Amount(a) => *a,
            _ => 0,
        }
    }

    /// The datetime of a datetime value.
    pub fn datetime(&self) -> Option<NaiveDateTime> {
        match self {
            Value::DateTime(d) => Some(*d),
            _ => None,
        }
    }
}

/// Why a row fails its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `201` or `202`.
    pub status: RowStatus,
    /// Index of the failing field, if one field is to blame.
    pub field: Option<usize>,
    /// One line, ASCII, naming the field and the rule.
    pub message: String,
}

/// Checks one decoded row. `Ok` holds a value per field.
pub fn check_row(schema: &Schema, ctx: &Context, fields: &[String]) -> Result<Vec<Value>, Failure> {
    let mut text: Vec<Text> = fields.iter().map(|f| Text::from(f.as_str())).collect();
    let mut values = Vec::with_capacity(text.len());
    check_row_into(schema, ctx, &mut text, &mut values).map(|()| values)
}

/// [`check_row`] taking the fields' text, which moves into the values: they are appended, one
/// per field, to `values` (the values of many rows side by side), and on a failure `values` is
/// left as it was. `fields` is left empty, its memory kept for the next row.
pub fn check_row_into(
    schema: &Schema,
    ctx: &Context,
    fields: &mut Vec<Text>,
    values: &mut Vec<Value>,
) -> Result<(), Failure> {
    let held = Held {
        fields: fields.len(),
        long: &[],
        limit: usize::MAX,
    };
    check_held_into(schema, ctx, fields, held, values)
}

/// What a reader held of a record whose fields it does not keep whole
/// ([`crate::dialect::RecordReader::with_field_limits`]).
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    /// The record's number of fields, kept or not.
    pub fields: usize,
    /// The fields longer than `limit` bytes, in order: their text is not held, and each fails.
    pub long: &'a [usize],
    /// The most bytes of a field held.
    pub limit: usize,
}

impl<'a> Held<'a> {
    /// What `rr` held of the record it read last.
    pub fn of<R: std::io::Read>(rr: &'a crate::dialect::RecordReader<R>) -> Self {
        Self {
            fields: rr.len(),
            long: rr.long_fields(),
            limit: rr.max_field(),
        }
    }
}

/// What differs between a header line (`fields`, of which `held` tells what the reader held)
/// and the schema's field names: the first column that differs, or the count.
pub fn header_difference<T: AsRef<str>>(fields: &[T], held: Held<'_>, expected: &[&str]) -> String {
    let at = fields
        .iter()
        .zip(expected)
        .position(|(f, e)| f.as_ref() != *e)
        .unwrap_or(fields.len().min(expected.len()));
    match (fields.get(at), expected.get(at)) {
        (Some(_), Some(e)) if held.long.contains(&at) => format!(
            "field {} is longer than {} bytes where the schema has {e:?}",
            at.saturating_add(1),
            held.limit
        ),
        (Some(f), Some(e)) => format!(
            "field {} is {:?} where the schema has {e:?}",
            at.saturating_add(1),
            crate::control::shown(f.as_ref())
        ),
        (None, Some(e)) => format!(
            "{} fields where the schema has {}, the next being {e:?}",
            held.fields,
            expected.len()
        ),
        _ => format!(
            "{} fields where the schema has {}",
            held.fields,
            expected.len()
        ),
    }
}

/// [`check_row_into`] for a record of which `held` tells what the reader held. A field longer
/// than the reader holds is `202`, in column order like any other failure: no valid value comes
/// near the limit (the registry's longest are 500 characters).
pub fn check_held_into(
    schema: &Schema,
    ctx: &Context,
    fields: &mut Vec<Text>,
    held: Held<'_>,
    values: &mut Vec<Value>,
) -> Result<(), Failure> {
    if held.fields != schema.fields.len() || fields.len() != held.fields {
        fields.clear();
        return Err(count_failure(schema, held.fields));
    }
    let start = values.len();
    for (i, (f, owned)) in schema.fields.iter().zip(fields.drain(..)).enumerate() {
        let checked = if held.long.contains(&i) {
            Err(too_long(f, i, held.limit))
        } else {
            check_field(f, i, ctx, owned, values.get(start..).unwrap_or(&[]), &[])
        };
        match checked {
            Ok(value) => values.push(value),
            Err(e) => {
                values.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The failure of a row with `count` fields where the header has another number.
fn count_failure(schema: &Schema, count: usize) -> Failure {
    Failure {
        status: RowStatus::Invalid,
        field: None,
        message: format!(
            "row has {count} field{}, the header has {}",
            if count == 1 { "" } else { "s" },
            schema.fields.len()
        ),
    }
}

/// The failure of field `i` (`f`), longer than the `limit` bytes the reader holds of a field.
fn too_long(f: &schema::Field, i: usize, limit: usize) -> Failure {
    Failure {
        status: RowStatus::Invalid,
        field: Some(i),
        message: format!(
            "{}: longer than {limit} bytes, the most the receiver holds of a field (max_field_bytes)",
            f.name
        ),
    }
}

/// Every failing field of a row, in column order (empty when the row is valid), for reports
/// that name them all (the billing export, §9) rather than the first (§7.2). A rule between
/// two fields is not judged when the earlier field itself failed.
pub fn every_failure(schema: &Schema, ctx: &Context, fields: &[String]) -> Vec<Failure> {
    let held = Held {
        fields: fields.len(),
        long: &[],
        limit: usize::MAX,
    };
    every_failure_held(schema, ctx, fields, held)
}

/// [`every_failure`] for a record of which `held` tells what the reader held (each field too
/// long to hold fails, as in [`check_held_into`]).
pub fn every_failure_held(
    schema: &Schema,
    ctx: &Context,
    fields: &[String],
    held: Held<'_>,
) -> Vec<Failure> {
    every_failure_unreadable(schema, ctx, fields, held, &[])
}

/// [`every_failure_held`] for a record whose fields `unreadable` hold bytes invalid in their
/// encoding (the billing export, UTF-8): each of them fails as such (`202`), and every other
/// field is judged by its rules as usual.
pub fn every_failure_unreadable(
    schema: &Schema,
    ctx: &Context,
    fields: &[String],
    held: Held<'_>,
    unreadable: &[usize],
) -> Vec<Failure> {
    if held.fields != schema.fields.len() || fields.len() != held.fields {
        return vec![count_failure(schema, held.fields)];
    }
    let mut values: Vec<Value> = Vec::with_capacity(fields.len());
    let mut failed = Vec::with_capacity(fields.len());
    let mut failures = Vec::new();
    for (i, (f, text)) in schema.fields.iter().zip(fields).enumerate() {
        let checked = if unreadable.contains(&i) {
            Err(Failure {
                status: RowStatus::Invalid,
                field: Some(i),
                message: "not valid UTF-8".into(),
            })
        } else if held.long.contains(&i) {
            Err(too_long(f, i, held.limit))
        } else {
            check_field(f, i, ctx, Text::from(text.as_str()), &values, &failed)
        };
        match checked {
            Ok(v) => {
                values.push(v);
                failed.push(false);
            }
            Err(e) => {
                failures.push(e);
                values.push(Value::Missing);
                failed.push(true);
            }
        }
    }
    failures
}

/// Whether `text` passes the rules of field `i` of the schema judged on its own, as if no
/// earlier field had failed or had a value (for a key field, which has no rule between
/// fields, this is its judgment in any row, one of the wrong number of fields included).
pub fn key_passes(schema: &Schema, i: usize, ctx: &Context, text: &str) -> bool {
    schema
        .fields
        .get(i)
        .is_some_and(|f| check_field(f, i, ctx, Text::from(text), &[], &[]).is_ok())
}

/// Checks field `i` (`f`) of a row whose earlier fields gave `values`; `failed[j]` says that
/// earlier field `j` failed (its rules are then not judged).
#[inline]
fn check_field(
    f: &schema::Field,
    i: usize,
    ctx: &Context,
    owned: Text,
    values: &[Value],
    failed: &[bool],
) -> Result<Value, Failure> {
    let text: &str = &owned;
    let fail = |why: String| Failure {
        status: RowStatus::Invalid,
        field: Some(i),
        message: format!("{}: {why}", f.name),
    };
    if text.is_empty() {
        if f.required {
            return Err(Failure {
                status: RowStatus::Missing,
                field: Some(i),
                message: format!("{}: required value is missing", f.name),
            });
        }
        return Ok(Value::Missing);
    }
    let value = match f.kind {
        FieldType::String => Value::Text(Text::default()),
        FieldType::Amount => Value::Amount(
            amount::parse(text).ok_or_else(|| fail("not an amount of the form 0.00".into()))?,
        ),
        FieldType::DateTime => Value::DateTime(
            schema::parse_datetime(text)
                .ok_or_else(|| fail("not a datetime YYYY-MM-DD HH:MM:SS".into()))?,
        ),
    };
    if f.pattern.as_ref().is_some_and(|p| !p.matches(text)) {
        return Err(fail("does not match the required pattern".into()));
    }
    if let Some(set) = f
        .one_of
        .as_ref()
        .filter(|set| !set.iter().any(|v| v == text))
    {
        return Err(fail(format!("must be one of {}", set.join(", "))));
    }
    if f.min_length.is_some() || f.max_length.is_some() {
        let n = text.chars().count();
        if f.min_length.is_some_and(|m| n < m) || f.max_length.is_some_and(|m| n > m) {
            return Err(fail(format!(
                "length {n} is outside {}..{}",
                f.min_length.unwrap_or(0),
                f.max_length
                    .map_or_else(|| "".to_string(), |m| m.to_string())
            )));
        }
    }
    if let (Some(min), Value::Amount(a)) = (f.exclusive_minimum, &value)
        && *a <= min
    {
        return Err(fail(format!(
            "must be greater than {}",
            amount::format(min.into())
        )));
    }
    match (f.rule, &value) {
        (None, _) => {}
        // Beside a payer type that failed (`every_failure`), the payer id is judged against
        // every rule it could have: it fails only when it is neither a PINFL nor a TIN.
        (Some(Rule::PartyIdOf(j)), _) if failed.get(j) == Some(&true) => {
            if !ident::party_id_ok("P", text) && !ident::party_id_ok("J", text) {
                return Err(fail(
                    "neither a valid PINFL nor a valid TIN (the payer type is not valid)".into(),
                ));
            }
        }
        // An account key is not judged against a bank code that failed itself.
        (Some(Rule::AccountKeyOf(j)), _) if failed.get(j) == Some(&true) => {}
        (Some(Rule::PartyIdOf(j)), _) => {
            let t = values.get(j).map(Value::text).unwrap_or("");
            if !ident::party_id_ok(t, text) {
                let what = if t == "P" {
                    "not a valid PINFL"
                } else {
                    "not a valid TIN"
                };
                return Err(fail(format!("{what} for payer type {t}")));
            }
        }
        (Some(Rule::AccountKeyOf(j)), _) => {
            let mfo = values.get(j).map(Value::text).unwrap_or("");
            if !ident::account_key_ok(mfo, text) {
                return Err(fail(format!("account key does not match bank code {mfo}")));
            }
        }
        (Some(Rule::NotAfterCreatedAt), Value::DateTime(d)) => {
            let local = d.and_local_timezone(tashkent()).single();
            if local.is_none_or(|t| t > ctx.created_at) {
                return Err(fail("is after the batch's created_at".into()));
            }
        }
        (Some(Rule::OnBusinessDate), Value::DateTime(d)) => {
            if d.date() != ctx.business_date {
                return Err(fail("is not on the business date".into()));
            }
        }
        (Some(_), _) => return Err(fail("rule applies to datetimes only".into())),
    }
    let mut value = value;
    if let Value::Text(slot) = &mut value {
        *slot = owned;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schemas;

    fn ctx() -> Context {
        Context {
            created_at: DateTime::parse_from_rfc3339("2026-11-22T01:05:00+05:00").unwrap(),
            business_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        }
    }

    fn pay(row: &str) -> Result<Vec<Value>, Failure> {
        let s = Schemas::built_in().unwrap();
        let fields: Vec<String> = row.split(';').map(str::to_owned).collect();
        check_row(&s.pay, &ctx(), &fields)
    }

    const GOOD: &str = "25786018516942;2026-11-21 13:22:10;50122778370060254138;P;31210932040247;Yo'ldoshev Bekzod;204000.00;860;00014;23402000300100001010;purpose";

    #[test]
    fn a_row_of_the_wrong_width_says_how_many_fields_it_has() {
        let e = pay("1;2;3").err().map(|f| (f.status, f.field, f.message));
        assert_eq!(
            e,
            Some((
                RowStatus::Invalid,
                None,
                "row has 3 fields, the header has 11".to_string()
            ))
        );
        // Rows side by side: a failing row leaves the values before it as they were.
        let s = Schemas::built_in().unwrap();
        let mut values = Vec::new();
        let mut fields: Vec<Text> = GOOD.split(';').map(Text::from).collect();
        check_row_into(&s.pay, &ctx(), &mut fields, &mut values).unwrap();
        assert_eq!((values.len(), fields.len()), (11, 0));
        let mut bad: Vec<Text> = GOOD
            .replace(";860;", ";861;")
            .split(';')
            .map(Text::from)
            .collect();
        assert!(check_row_into(&s.pay, &ctx(), &mut bad, &mut values).is_err());
        assert_eq!((values.len(), bad.len()), (11, 0));
        assert_eq!(values, pay(GOOD).unwrap());
    }

    #[test]
    fn every_failure_names_each_bad_field_and_skips_rules_on_a_failed_field() {
        let s = Schemas::built_in().unwrap();
        let fields = |row: &str| -> Vec<String> { row.split(';').map(str::to_owned).collect() };
        assert!(every_failure(&s.pay, &ctx(), &fields(GOOD)).is_empty());
        // A bad payer type: the payer id (a valid PINFL here) passes, since it is valid for
        // one of the types; the amount and the bank code fail, and the account's key
        // against a bad bank code is not judged.
        let row = GOOD
            .replace(";P;", ";X;")
            .replace("204000.00", "0.00")
            .replace(";00014;", ";0001;");
        let codes = |row: &str| -> Vec<(u16, Option<usize>)> {
            every_failure(&s.pay, &ctx(), &fields(row))
                .into_iter()
                .map(|f| (f.status.code(), f.field))
                .collect()
        };
        assert_eq!(
            codes(&row),
            [(202, Some(3)), (202, Some(6)), (202, Some(8))]
        );
        // The first of them is what check_row reports.
        assert_eq!(pay(&row).unwrap_err().field, Some(3));
        // Beside a bad payer type, a payer id valid for neither type fails too: a PINFL
        // whose check digit is wrong, a TIN starting with 4, nine letters; a TIN passes.
        let pinfl = GOOD.split(';').nth(4).unwrap_or_default().to_owned();
        let mut bad_check = pinfl.clone().into_bytes();
        if let Some(d) = bad_check.last_mut() {
            *d = b'0' + (*d - b'0' + 1) % 10;
        }
        let bad_check = String::from_utf8(bad_check).unwrap();
        for (id, fails) in [
            (bad_check.as_str(), true),
            ("412345678", true),
            ("abcdefghi", true),
            ("212345678", false),
            (pinfl.as_str(), false),
        ] {
            let row = GOOD
                .replace(";P;", ";X;")
                .replace(&format!(";{pinfl};"), &format!(";{id};"));
            let want: &[(u16, Option<usize>)] = if fails {
                &[(202, Some(3)), (202, Some(4))]
            } else {
                &[(202, Some(3))]
            };
            assert_eq!(codes(&row), want, "payer id {id}");
        }
        let message = |row: &str| {
            every_failure(&s.pay, &ctx(), &fields(row))[1]
                .message
                .clone()
        };
        assert_eq!(
            message(
                &GOOD
                    .replace(";P;", ";X;")
                    .replace(&format!(";{pinfl};"), ";412345678;")
            ),
            "payer_id: neither a valid PINFL nor a valid TIN (the payer type is not valid)"
        );
        // A wrong number of fields is one failure of the row.
        let short = every_failure(&s.pay, &ctx(), &fields("1;2"));
        assert_eq!(short.len(), 1);
        assert_eq!(short[0].field, None);
    }

    fn fails(row: String) -> (u16, String) {
        let f = pay(&row).expect_err(&row);
        (
            f.status.code(),
            f.field
                .map(|i| Schemas::built_in().unwrap().pay.fields[i].name.clone())
                .unwrap_or_default(),
        )
    }

    #[test]
    fn a_good_row_passes_and_optional_fields_may_be_empty() {
        let v = pay(GOOD).unwrap();
        assert_eq!(v[6], Value::Amount(20_400_000));
        let no_opt = GOOD.replace(";23402000300100001010;purpose", ";;");
        assert_eq!(pay(&no_opt).unwrap()[9], Value::Missing);
    }

    #[test]
    fn each_field_rule_gives_its_code_and_field() {
        let cases = [
            (GOOD.replacen("25786018516942", "", 1), 201, "payment_id"),
            (
                GOOD.replacen("25786018516942", "2578601851", 1),
                202,
                "payment_id",
            ),
            (
                GOOD.replace("2026-11-21 13:22:10", "2026-11-22 01:05:01"),
                202,
                "paid_at",
            ),
            (
                GOOD.replace("2026-11-21 13:22:10", "2026-13-45 00:00:00"),
                202,
                "paid_at",
            ),
            (
                GOOD.replace("50122778370060254138", "5012277837006025413"),
                202,
                "invoice_no",
            ),
            (GOOD.replace(";P;", ";X;"), 202, "payer_type"),
            (GOOD.replace(";P;", ";J;"), 202, "payer_id"),
            (
                GOOD.replace("31210932040247", "31210932040246"),
                202,
                "payer_id",
            ),
            (GOOD.replace("Yo'ldoshev Bekzod", ""), 201, "payer_name"),
            (
                GOOD.replace("Yo'ldoshev Bekzod", &"Ж".repeat(201)),
                202,
                "payer_name",
            ),
            (GOOD.replace("204000.00", "0.00"), 202, "amount"),
            (GOOD.replace("204000.00", "204000.5"), 202, "amount"),
            (
                GOOD.replace("204000.00", &format!("{}.00", "9".repeat(10_000))),
                202,
                "amount",
            ),
            (GOOD.replace(";860;", ";861;"), 202, "currency"),
            (GOOD.replace(";00014;", ";0014;"), 202, "bank_mfo"),
            (
                GOOD.replace("23402000300100001010", "23402000400100001010"),
                202,
                "account",
            ),
            (GOOD.replace(";00014;", ";00015;"), 202, "account"),
            (GOOD.replace("purpose", &"x".repeat(501)), 202, "purpose"),
            (format!("{GOOD};extra"), 202, ""),
        ];
        for (row, code, field) in cases {
            assert_eq!(fails(row.clone()), (code, field.to_string()), "{row}");
        }
        assert!(pay(&GOOD.replace("Yo'ldoshev Bekzod", &"Ж".repeat(200))).is_ok());
        assert!(pay(&GOOD.replace("purpose", &"x".repeat(500))).is_ok());
        assert!(
            pay(&GOOD.replace("2026-11-21 13:22:10", "2026-11-22 01:05:00")).is_ok(),
            "equal to created_at"
        );
    }

    #[test]
    fn first_failing_column_wins() {
        let row = GOOD
            .replace(";860;", ";861;")
            .replace("Yo'ldoshev Bekzod", "");
        assert_eq!(fails(row), (201, "payer_name".into()));
    }

    /// The status code and field name of the first failure of `good` with column `i` set to
    /// `v`, if any.
    fn with_value(schema: &Schema, good: &[&str], i: usize, v: &str) -> Option<(u16, String)> {
        let mut row: Vec<String> = good.iter().map(|f| f.to_string()).collect();
        row[i] = v.into();
        check_row(schema, &ctx(), &row).err().map(|f| {
            let field = f.field.map(|i| schema.fields[i].name.clone());
            (f.status.code(), field.unwrap_or_default())
        })
    }

    /// Each `(column, value)` of `allowed` passes; each `(column, value, code, field)` of
    /// `refused` gives that code and field.
    fn field_rules(
        schema: &Schema,
        good: &[&str],
        allowed: &[(usize, &str)],
        refused: &[(usize, &str, u16, &str)],
    ) {
        for &(i, v) in allowed {
            assert_eq!(with_value(schema, good, i, v), None, "{v:?}");
        }
        for &(i, v, code, field) in refused {
            let want = Some((code, field.to_string()));
            assert_eq!(with_value(schema, good, i, v), want, "{field} = {v:?}");
        }
    }

    #[test]
    fn rec_fields_are_checked_as_in_pay() {
        // §5.3: payment_id, invoice_no and amount as in PAY; state PAID or REVERSED.
        let s = Schemas::built_in().unwrap();
        let good = [
            "200000000000",
            "2026-11-21 10:00:00",
            "11111111111111111111",
            "5000.00",
            "PAID",
        ];
        field_rules(
            &s.rec,
            &good,
            &[(0, "200000000000"), (4, "REVERSED")],
            &[
                (0, "", 201, "payment_id"),
                (0, "20000000000", 202, "payment_id"),
                (0, "2000000000000000000000", 202, "payment_id"),
                (0, "20000000000A", 202, "payment_id"),
                (2, "1111111111111111111", 202, "invoice_no"),
                (2, "", 201, "invoice_no"),
                (3, "0.00", 202, "amount"),
                (3, "5000.0", 202, "amount"),
                (3, "-5.00", 202, "amount"),
                (3, "", 201, "amount"),
                (4, "paid", 202, "state"),
                (4, "", 201, "state"),
            ],
        );
    }

    #[test]
    fn billing_export_fields_follow_section_9() {
        let s = Schemas::built_in().unwrap();
        let good = [
            "70000000000000000001",
            "1703002",
            "2-1/2026",
            "P",
            "31210932040247",
            "Karimova Dilnoza",
            "100.00",
            "2026-10-01 09:00:00",
            "OPEN",
        ];
        let (case_40, case_41, name_201) = ("Ж".repeat(40), "Ж".repeat(41), "a".repeat(201));
        field_rules(
            &s.invoices,
            &good,
            // The longest values allowed, and the other status.
            &[(1, "1234567890"), (2, &case_40), (8, "CANCELLED")],
            &[
                (0, "7000000000000000000", 202, "invoice_no"),
                (1, "", 201, "court_code"),
                (1, "12345678901", 202, "court_code"),
                (2, "", 201, "case_no"),
                (2, &case_41, 202, "case_no"),
                (3, "X", 202, "payer_type"),
                (4, "212345678", 202, "payer_id"),
                (5, &name_201, 202, "payer_name"),
                (6, "0.00", 202, "amount_due"),
                (6, "100", 202, "amount_due"),
                (7, "2026-10-01", 202, "issued_at"),
                (7, "2026-02-30 09:00:00", 202, "issued_at"),
                (8, "CLOSED", 202, "status"),
            ],
        );
    }

    #[test]
    fn rec_dates_must_be_on_the_business_date() {
        let s = Schemas::built_in().unwrap();
        let row = |d: &str| -> Vec<String> {
            vec![
                "200000000000".into(),
                d.into(),
                "11111111111111111111".into(),
                "5000.00".into(),
                "PAID".into(),
            ]
        };
        assert!(check_row(&s.rec, &ctx(), &row("2026-11-21 23:59:59")).is_ok());
        assert_eq!(
            check_row(&s.rec, &ctx(), &row("2026-11-22 00:00:00"))
                .unwrap_err()
                .field,
            Some(1)
        );
    }
}
