//! Identifier rules of agreement §5.4: PINFL, TIN and the bank account key.
//!
//! Each function takes the field text and says whether it satisfies the rule; none panics.

use chrono::NaiveDate;

/// The digits of a string of exactly `N` ASCII digits, on the stack: these checks run for
/// every row of a registry, where a vector of digits cost an allocation.
// In range: an ASCII digit less b'0' is 0 to 9.
#[allow(clippy::arithmetic_side_effects)]
fn digits<const N: usize>(s: &str) -> Option<[u32; N]> {
    let b: &[u8; N] = s.as_bytes().try_into().ok()?;
    let mut d = [0u32; N];
    for (out, &c) in d.iter_mut().zip(b) {
        if !c.is_ascii_digit() {
            return None;
        }
        *out = u32::from(c - b'0');
    }
    Some(d)
}

/// A string of 1 to 36 ASCII digits as a number that keeps its length (leading zeros count):
/// `value * 64 + length`. Used to hold many identifiers compactly. `None` for anything else.
pub fn digit_key(s: &str) -> Option<u128> {
    digit_key_bytes(s.as_bytes())
}

/// [`digit_key`] of bytes (the same key for the same digits): for text read from the store,
/// which need not be checked as UTF-8 first.
// In range: a run of 18 digits is below 10^18 (u64 holds 1.8 * 10^19); 36 digits are below
// 10^36, and times 64 below 6.4 * 10^37 (u128 holds 3.4 * 10^38).
#[allow(clippy::arithmetic_side_effects)]
pub fn digit_key_bytes(b: &[u8]) -> Option<u128> {
    if b.is_empty() || b.len() > 36 {
        return None;
    }
    // Runs of up to 18 digits are summed in 64 bits, and joined in 128 bits once per run: a
    // 20-digit invoice number costs two wide multiplications, not twenty.
    let mut v: u128 = 0;
    for run in b.chunks(18) {
        let mut r: u64 = 0;
        for &d in run {
            let x = d.wrapping_sub(b'0');
            if x > 9 {
                return None;
            }
            r = r * 10 + u64::from(x);
        }
        v = v * 10u128.pow(run.len() as u32) + u128::from(r);
    }
    Some(v * 64 + b.len() as u128)
}

/// PINFL of an individual: 14 digits; digit 1 is 1–6 (sex and century), digits 2–7 a valid
/// date DDMMYY in that century, digit 14 the check digit (weights 7,3,1,… mod 10).
// In range: single digits (0 to 9) times 10 or a weight of at most 7, thirteen of them summed.
#[allow(clippy::arithmetic_side_effects)]
pub fn pinfl_ok(s: &str) -> bool {
    let Some(d) = digits::<14>(s) else {
        return false;
    };
    let century = match d[0] {
        1 | 2 => 1800,
        3 | 4 => 1900,
        5 | 6 => 2000,
        _ => return false,
    };
    let day = d[1] * 10 + d[2];
    let month = d[3] * 10 + d[4];
    let year = century + (d[5] * 10 + d[6]) as i32;
    if NaiveDate::from_ymd_opt(year, month, day).is_none() {
        return false;
    }
    let sum: u32 = d[..13]
        .iter()
        .zip([7, 3, 1].into_iter().cycle())
        .map(|(v, w)| v * w)
        .sum();
    sum % 10 == d[13]
}

/// TIN of a legal entity: 9 digits, the first 2 or 3.
pub fn tin_ok(s: &str) -> bool {
    digits::<9>(s).is_some_and(|d| d[0] == 2 || d[0] == 3)
}

/// The party identifier for a payer type: `P` takes a PINFL, `J` a TIN.
pub fn party_id_ok(payer_type: &str, id: &str) -> bool {
    match payer_type {
        "P" => pinfl_ok(id),
        "J" => tin_ok(id),
        _ => false,
    }
}

/// Bank account key: `account` (20 digits) checked against `mfo` (5 digits), digit 9 of the
/// account being the key.
// In range: 24 products of two digits (at most 81 each) summed; `11 - r` for r of 2 to 10.
#[allow(clippy::arithmetic_side_effects)]
pub fn account_key_ok(mfo: &str, account: &str) -> bool {
    let (Some(m), Some(a)) = (digits::<5>(mfo), digits::<20>(account)) else {
        return false;
    };
    // Digit 9 of the account is its key: eight digits before it, eleven after.
    let Some((head, [given, tail @ ..])) = a.split_first_chunk::<8>() else {
        return false;
    };
    // The key's sequence: the MFO, the account without its key digit, then 9; summed as
    // products of neighbours.
    let seq = || m.iter().chain(head).chain(tail).chain(&[9]);
    let t: u32 = seq().zip(seq().skip(1)).map(|(x, y)| x * y).sum();
    let key = match t % 11 {
        0 => 9,
        1 => 0,
        r => 11 - r,
    };
    key == *given
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinfl_agreement_example_and_counter_examples() {
        assert!(pinfl_ok("31210932040247"));
        assert!(!pinfl_ok("31210932040246"), "wrong check digit");
        assert!(!pinfl_ok("71210932040247"), "first digit 7");
        assert!(!pinfl_ok("01210932040247"), "first digit 0");
        assert!(!pinfl_ok("3121093204024"), "13 digits");
        assert!(!pinfl_ok("312109320402470"), "15 digits");
        assert!(!pinfl_ok("3121093204024a"), "letter");
        // 30 February 1993 is no date: build a PINFL with a correct check digit around it.
        let with_check = |body: &str| {
            let w = [7, 3, 1];
            let s: u32 = body
                .bytes()
                .enumerate()
                .map(|(i, b)| u32::from(b - b'0') * w[i % 3])
                .sum();
            format!("{body}{}", s % 10)
        };
        assert!(
            pinfl_ok(&with_check("3121093204024")),
            "the helper rebuilds the example"
        );
        assert!(!pinfl_ok(&with_check("3300293204024")), "30.02.93");
        assert!(pinfl_ok(&with_check("3290296204024")), "29.02.96 leap year");
        assert!(!pinfl_ok(&with_check("3290293204024")), "29.02.93 not leap");
        assert!(
            !pinfl_ok(&with_check("1290200204024")),
            "29.02.1800 not leap"
        );
        assert!(pinfl_ok(&with_check("5290200204024")), "29.02.2000 leap");
        // The year is the century plus YY: 1904 is a leap year, so 29.02.04 is a date in the
        // 1900s, and 1900 is not, so 29.02.00 is not.
        assert!(pinfl_ok(&with_check("3290204204024")), "29.02.1904 leap");
        assert!(
            !pinfl_ok(&with_check("3290200204024")),
            "29.02.1900 not leap"
        );
        assert!(!pinfl_ok(&with_check("3001393204024")), "month 13");
    }

    #[test]
    fn digit_keys_keep_leading_zeros_apart() {
        assert_ne!(digit_key("01"), digit_key("1"));
        assert_eq!(digit_key("00000000000000000001"), Some(64 + 20));
        assert_eq!(digit_key(&"9".repeat(36)).map(|k| k % 64), Some(36));
        assert_eq!(digit_key(&"9".repeat(37)), None);
        assert_eq!(digit_key("12a"), None);
        assert_eq!(digit_key(""), None);
    }

    proptest::proptest! {
        /// The key of the run-wise sum is the key of the digit-by-digit definition.
        #[test]
        fn digit_keys_agree_with_their_definition(s in "[0-9]{0,40}|[0-9a ]{0,24}") {
            let reference = (!s.is_empty() && s.len() <= 36 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.bytes().fold(0u128, |a, d| a * 10 + u128::from(d - b'0')) * 64 + s.len() as u128);
            proptest::prop_assert_eq!(digit_key(&s), reference);
        }

        /// The account key as §5.4 words it, over strings: [`account_key_ok`] agrees with the
        /// wording for any 5-digit MFO and 20-digit account.
        #[test]
        fn account_keys_agree_with_the_agreements_wording(mfo in "[0-9]{5}", a in "[0-9]{20}") {
            let s: Vec<u32> = format!("{mfo}{}{}9", &a[0..8], &a[9..20])
                .chars()
                .filter_map(|c| c.to_digit(10))
                .collect();
            let t: u32 = (0..24).map(|i| s[i] * s[i + 1]).sum();
            let key = match t % 11 { 0 => 9, 1 => 0, r => 11 - r };
            let stated = a[8..9].parse::<u32>().ok() == Some(key);
            proptest::prop_assert_eq!(account_key_ok(&mfo, &a), stated);
        }

        /// A PINFL's check digit as §5.4 words it, for any 14 digits with a valid date part.
        #[test]
        fn pinfl_check_digits_agree_with_the_agreements_wording(
            first in 1u32..=6, day in 1u32..=28, month in 1u32..=12, yy in 0u32..=99, rest in "[0-9]{7}"
        ) {
            let body = format!("{first}{day:02}{month:02}{yy:02}{}", &rest[..6]);
            let d: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
            let w = [7, 3, 1];
            let check = (0..13).map(|i| d[i] * w[i % 3]).sum::<u32>() % 10;
            let s = format!("{body}{}", &rest[6..]);
            proptest::prop_assert_eq!(pinfl_ok(&s), rest[6..].parse::<u32>().ok() == Some(check));
        }
    }

    #[test]
    fn tin_rules() {
        assert!(tin_ok("291621469"));
        assert!(tin_ok("316751579"));
        assert!(!tin_ok("512345678"), "first digit 5");
        assert!(!tin_ok("12345678"), "8 digits");
        assert!(!tin_ok("2123456789"), "10 digits");
        assert!(party_id_ok("J", "212345678"));
        assert!(!party_id_ok("P", "212345678"));
        assert!(party_id_ok("P", "31210932040247"));
        assert!(!party_id_ok("J", "31210932040247"));
        assert!(!party_id_ok("X", "212345678"));
    }

    #[test]
    fn account_key_agreement_example_and_every_other_key_digit() {
        let acc = "23402000300100001010";
        assert!(account_key_ok("00014", acc));
        for k in b'0'..=b'9' {
            let mut a = acc.as_bytes().to_vec();
            a[8] = k;
            let a = String::from_utf8(a).unwrap_or_default();
            assert_eq!(
                account_key_ok("00014", &a),
                k == acc.as_bytes()[8],
                "key digit {}",
                k as char
            );
        }
        assert!(!account_key_ok("00015", acc), "another bank");
        assert!(!account_key_ok("0014", acc), "4-digit bank code");
        assert!(!account_key_ok("00014", "2340200030010000101"), "19 digits");
    }
}
