//! Exact money amounts in tiyin (1 so'm = 100 tiyin), never floating point.
//!
//! The agreement's amount pattern is `[0-9]{1,13}\.[0-9]{2}`; [`parse`] accepts exactly that,
//! and [`format()`] writes any non-negative sum back with two decimals.

/// Parses an amount of the form `[0-9]{1,13}\.[0-9]{2}` into tiyin.
///
/// Returns `None` for anything else (signs, spaces, commas, missing or extra decimals).
pub fn parse(text: &str) -> Option<i64> {
    parse_digits(text.as_bytes(), 13).and_then(|v| i64::try_from(v).ok())
}

/// Parses a control total of the form `[0-9]+\.[0-9]{2}` into tiyin.
///
/// Control totals sum many amounts, so they have no width of their own. A total too large for
/// an `i128` (over 10^36 so'm) is read as `i128::MAX`: no registry's sum comes near it, so it
/// differs from every sum (`B08`), as a well-formed total that does not match should.
pub fn parse_total(text: &str) -> Option<i128> {
    parse_digits(text.as_bytes(), usize::MAX)
}

/// `[0-9]{1,max_int}\.[0-9]{2}` in tiyin, saturating at `i128::MAX` (reached only by totals of
/// more than 36 integer digits).
fn parse_digits(b: &[u8], max_int: usize) -> Option<i128> {
    let (int, frac) = b.split_at_checked(b.len().checked_sub(3)?)?;
    let [b'.', frac @ ..] = frac else {
        return None;
    };
    if int.is_empty() || int.len() > max_int || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        int.iter()
            .chain(frac)
            // An ASCII digit's low four bits are its value.
            .try_fold(0i128, |v, &d| {
                v.checked_mul(10)?.checked_add(i128::from(d & 0x0f))
            })
            .unwrap_or(i128::MAX),
    )
}

/// Formats tiyin as so'm with exactly two decimals (`150000.00`).
pub fn format(tiyin: i128) -> String {
    let sign = if tiyin < 0 { "-" } else { "" };
    let a = tiyin.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_agreement_pattern_only() {
        assert_eq!(parse("150000.00"), Some(15_000_000));
        assert_eq!(parse("0.01"), Some(1));
        assert_eq!(parse("9999999999999.99"), Some(999_999_999_999_999));
        for bad in [
            "",
            "1",
            "1.0",
            "1.000",
            ".00",
            "-1.00",
            "+1.00",
            "1,00",
            " 1.00",
            "1.00 ",
            "10000000000000.00",
            "1e3.00",
            "１.00",
            "150000.5",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} must be rejected");
        }
    }

    #[test]
    fn totals_take_wider_sums() {
        assert_eq!(
            parse_total("123456789012345678.90"),
            Some(12_345_678_901_234_567_890)
        );
        assert_eq!(parse_total("1.0"), None);
    }

    #[test]
    fn format_round_trips() {
        for s in ["0.00", "0.05", "1.10", "150000.00", "9999999999999.99"] {
            assert_eq!(format(i128::from(parse(s).unwrap_or(-1))), s);
        }
        assert_eq!(format(-5), "-0.05");
    }
}
