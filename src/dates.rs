//! Dates a span's text carries as epoch milliseconds instead of ISO strings.
//!
//! `JSON.stringify` writes a `Date` through `Date.prototype.toJSON`, a call back into JavaScript that costs more than
//! the rest of a span together: on this project's machines, 3 to 4 µs per `Date` against 5 to 6 µs for everything else
//! in a typical span, and every span has two (`startTime`, `endTime`), model spans a third
//! (`attributes.completionStartTime`). The entry points' JavaScript wrappers therefore serialise the span with these
//! Dates replaced by their `getTime()` (in the span itself for the call, or in a copy; see `binding/serialise.js`), and
//! say which ones they replaced ([`Dates`]). The ISO text
//! (`toISOString()`, what `JSON.stringify` would have written) is made here, on a worker thread, where it is needed.

/// Which of a span's Dates its text carries as epoch milliseconds (the wrappers' bit mask).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dates(u8);

impl Dates {
  /// None: the text is `JSON.stringify`'s own.
  pub const NONE: Dates = Dates(0);
  /// The top-level `startTime`.
  pub const START: Dates = Dates(1);
  /// The top-level `endTime`.
  pub const END: Dates = Dates(2);
  /// `attributes.completionStartTime`.
  pub const COMPLETION: Dates = Dates(4);
  const ALL: u8 = 7;

  /// The mask a wrapper passed; bits it does not define are ignored.
  pub fn from_bits(bits: u32) -> Dates {
    Dates((bits & u32::from(Self::ALL)) as u8)
  }

  pub fn is_empty(self) -> bool {
    self.0 == 0
  }

  pub fn contains(self, other: Dates) -> bool {
    self.0 & other.0 == other.0
  }
}

impl std::ops::BitOr for Dates {
  type Output = Dates;
  fn bitor(self, rhs: Dates) -> Dates {
    Dates(self.0 | rhs.0)
  }
}

/// Milliseconds since the epoch (as JSON text) as `Date.prototype.toISOString()` writes them:
/// `2026-09-05T00:00:00.000Z`, years outside 0 to 9999 with a sign and six digits (`"+010000-01-01T…"`). `None` for
/// text that is not an integer within a `Date`'s range (±8.64e15 ms), which no `getTime()` gives.
pub fn iso(ms_text: &str) -> Option<String> {
  const RANGE: i64 = 8_640_000_000_000_000;
  let ms: i64 = ms_text.parse().ok().filter(|ms: &i64| (-RANGE..=RANGE).contains(ms))?;
  let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
  let (y, m, d) = civil_from_days(days);
  let mut out = String::with_capacity(27);
  if (0..=9999).contains(&y) {
    push_digits(&mut out, y, 4);
  } else {
    out.push(if y < 0 { '-' } else { '+' });
    push_digits(&mut out, y.abs(), 6);
  }
  let secs = ms_of_day / 1000;
  for (sep, n, width) in [
    ('-', m, 2),
    ('-', d, 2),
    ('T', secs / 3600, 2),
    (':', secs / 60 % 60, 2),
    (':', secs % 60, 2),
    ('.', ms_of_day % 1000, 3),
  ] {
    out.push(sep);
    push_digits(&mut out, n, width);
  }
  out.push('Z');
  Some(out)
}

fn push_digits(out: &mut String, n: i64, width: u32) {
  for p in (0..width).rev() {
    out.push(char::from(b'0' + (n / 10i64.pow(p) % 10) as u8));
  }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
  let z = days + 719_468;
  let era = z.div_euclid(146_097);
  let doe = z.rem_euclid(146_097);
  let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
  let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  let mp = (5 * doy + 2) / 153;
  let d = doy - (153 * mp + 2) / 5 + 1;
  let m = if mp < 10 { mp + 3 } else { mp - 9 };
  let y = yoe + era * 400 + i64::from(m <= 2);
  (y, m, d)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn writes_what_to_iso_string_writes() {
    // Expected values from `new Date(ms).toISOString()` in Node.
    for (ms, want) in [
      ("0", "1970-01-01T00:00:00.000Z"),
      ("1764000000123", "2025-11-24T16:00:00.123Z"),
      ("951782400000", "2000-02-29T00:00:00.000Z"),
      ("-1", "1969-12-31T23:59:59.999Z"),
      ("-62167219200000", "0000-01-01T00:00:00.000Z"),
      ("-62167219200001", "-000001-12-31T23:59:59.999Z"),
      ("253402300799999", "9999-12-31T23:59:59.999Z"),
      ("253402300800000", "+010000-01-01T00:00:00.000Z"),
      ("8640000000000000", "+275760-09-13T00:00:00.000Z"),
      ("-8640000000000000", "-271821-04-20T00:00:00.000Z"),
    ] {
      assert_eq!(iso(ms).as_deref(), Some(want), "{ms}");
    }
  }

  #[test]
  fn refuses_what_get_time_never_gives() {
    for text in ["null", "1.5", "8640000000000001", "1e3", "", "\"0\""] {
      assert_eq!(iso(text), None, "{text}");
    }
  }

  #[test]
  fn masks_keep_only_known_bits() {
    let d = Dates::from_bits(0xff);
    assert!(d.contains(Dates::START | Dates::END | Dates::COMPLETION));
    assert_eq!(Dates::from_bits(8), Dates::NONE);
    assert!(Dates::from_bits(2).contains(Dates::END) && !Dates::from_bits(2).contains(Dates::START));
  }
}
