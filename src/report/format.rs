//! How figures are written for people: `12.3 ms`, `1,234`, `0.0123`, `–` for a figure that does
//! not apply. Shared by the stdout table, the HTML report and `wsbench compare`, so a number reads
//! the same everywhere. Formatting only: every figure is computed in [`super::summary`].

/// Shown for a figure that does not apply or has a zero denominator (an empty CSV cell).
pub(crate) const NONE: &str = "–";

/// `format(value)`, or [`NONE`].
pub(crate) fn opt<T>(value: Option<T>, format: impl Fn(T) -> String) -> String {
    value.map_or_else(|| NONE.to_owned(), format)
}

/// Whole microseconds in the largest unit below them (see [`duration_us`]).
pub(crate) fn us_int(us: u64) -> String {
    duration_us(us as f64)
}

/// A time given in µs, in the largest unit below it: `842 µs`, `12.3 ms`, `1.20 s`.
pub(crate) fn duration_us(us: f64) -> String {
    if us.abs() < 999.5 {
        format!("{} µs", sig3(us))
    } else if us.abs() < 999_500.0 {
        format!("{} ms", sig3(us / 1e3))
    } else {
        format!("{} s", sig3(us / 1e6))
    }
}

/// Three significant digits (`0.0123`, `1.20`, `63.2`); whole numbers and numbers from 1000 up
/// print as integers with thousands separators (`140`, `12,346`).
pub(crate) fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 || x.abs() >= 999.5 {
        return group_f64(x);
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    // Rounding up can add a digit (9.996 → "10.00"); drop a decimal to stay at three.
    match text.parse::<f64>() {
        Ok(r) if r.abs() >= 10f64.powi(magnitude + 1) && decimals > 0 => {
            format!("{x:.prec$}", prec = decimals - 1)
        }
        _ => text,
    }
}

pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn group_f64(x: f64) -> String {
    let rounded = x.round();
    let sign = if rounded < 0.0 { "-" } else { "" };
    format!("{sign}{}", group(rounded.abs() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_in_three_significant_digits() {
        assert_eq!(duration_us(842.0), "842 µs");
        assert_eq!(duration_us(5.0), "5 µs");
        assert_eq!(duration_us(12.34), "12.3 µs");
        assert_eq!(duration_us(12_300.0), "12.3 ms");
        assert_eq!(duration_us(999.7), "1.00 ms");
        assert_eq!(duration_us(1_200_000.0), "1.20 s");
        assert_eq!(duration_us(75_000_000.0), "75 s");
    }

    #[test]
    fn formats_numbers_in_three_significant_digits() {
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(0.5), "0.500");
        assert_eq!(sig3(0.01234), "0.0123");
        assert_eq!(sig3(63.24), "63.2");
        assert_eq!(sig3(9.996), "10.0");
        assert_eq!(sig3(140.0), "140");
        assert_eq!(sig3(12_345.6), "12,346");
        assert_eq!(sig3(-63.24), "-63.2");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(999), "999");
    }
}
