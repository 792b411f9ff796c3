//! RFC 8785 JSON Canonicalization Scheme (JCS): the one byte string an event
//! body hashes to, independent of key order, whitespace and number spelling.

use std::fmt::Write;

use serde_json::{Map, Number, Value};

/// The RFC 8785 canonical UTF-8 form of `value`. Infallible: a
/// `serde_json::Value` cannot hold NaN or infinities, the only JSON values JCS rejects.
pub fn canonicalize(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, value);
    out.into_bytes()
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Members sorted by key compared as UTF-16 code units (RFC 8785 §3.2.3),
/// which differs from UTF-8 byte order for characters beyond U+FFFF.
fn write_object(out: &mut String, map: &Map<String, Value>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    // UTF-8 byte order is code point order, which equals UTF-16 order unless a key holds a character beyond
    // U+FFFF (a four-byte sequence, lead byte 0xF0 or above). Byte comparison is much cheaper; use it when exact.
    let beyond_bmp = members
        .iter()
        .any(|(key, _)| key.bytes().any(|byte| byte >= 0xF0));
    if beyond_bmp {
        members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    } else {
        members.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
    }
    out.push('{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

/// Only '"', '\\' and control characters are escaped (RFC 8785 §3.2.2.2);
/// everything else, including non-ASCII, is written as raw UTF-8.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Copy runs that need no escape in one go; only '"', '\\' and control characters break a run.
    let mut rest = s;
    while let Some(position) = rest
        .bytes()
        .position(|byte| byte == b'"' || byte == b'\\' || byte < 0x20)
    {
        let (run, tail) = rest.split_at(position);
        out.push_str(run);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            write_escaped(out, c);
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out.push('"');
}

fn write_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\u{c}' => out.push_str("\\f"),
        '\r' => out.push_str("\\r"),
        c if c < ' ' => {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// JCS numbers are IEEE 754 doubles printed as ECMAScript's Number::toString.
/// Integers up to 2^53 are exact doubles and print as themselves; larger ones
/// are rounded to a double first, exactly as a JavaScript reader would.
fn write_number(out: &mut String, n: &Number) {
    const EXACT: u64 = 1 << 53;
    if let Some(u) = n.as_u64().filter(|u| *u <= EXACT) {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= EXACT) {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        write_f64(out, f);
    }
}

/// ECMAScript Number::toString (ECMA-262 §6.1.6.1.20) for a finite double.
fn write_f64(out: &mut String, f: f64) {
    if f == 0.0 {
        // Covers -0, which ECMAScript prints as "0".
        out.push('0');
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    // ECMAScript's digit choice, then its layout rules for where the point goes.
    let (digits, exponent) = shortest_digits(f.abs());
    // ECMAScript's n: the value is 0.d1d2…dk × 10^n.
    let k = digits.len() as i32;
    let n = exponent + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, ""));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(out, "e{}{}", if n > 0 { '+' } else { '-' }, (n - 1).abs());
    }
}

/// The shortest digit string that round-trips to `f` (positive, finite) and
/// its decimal exponent, as in `d.ddd × 10^exponent`, choosing as
/// ECMAScript does when two candidates are equally close: the even one.
fn shortest_digits(f: f64) -> (String, i32) {
    let (digits, exponent) = split_scientific(&format!("{f:e}"));
    // Rust picks the closest shortest candidate but breaks exact ties
    // differently from ECMA-262, which requires the even digit. A tie means
    // the exact value is the shorter digits followed by 5 and then zeros.
    // 800 significant digits hold every double's decimal expansion exactly.
    // A tie needs the value rounded to one more digit to end in 5: a cheap
    // test that spares nearly every number the 800-digit expansion.
    let could_tie = || {
        let (longer, _) = split_scientific(&format!("{f:.*e}", digits.len()));
        longer.ends_with('5')
    };
    if digits.ends_with(['1', '3', '5', '7', '9']) && could_tie() {
        let (exact, exact_exponent) = split_scientific(&format!("{f:.800e}"));
        let k = digits.len();
        let tie = exact_exponent == exponent
            && exact.get(k..k + 1) == Some("5")
            && exact
                .get(k + 1..)
                .is_some_and(|rest| rest.bytes().all(|b| b == b'0'));
        if let (true, Some(truncated)) = (tie, exact.get(..k)) {
            let other = if truncated == digits {
                increment_last_digit(&digits)
            } else {
                truncated.to_owned()
            };
            let (first, rest) = other.split_at(1);
            if format!("{first}.{rest}0e{exponent}").parse::<f64>() == Ok(f) {
                return (other, exponent);
            }
        }
    }
    (digits, exponent)
}

/// "1.2345e-7" into ("12345", -7).
fn split_scientific(sci: &str) -> (String, i32) {
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    (
        mantissa.chars().filter(char::is_ascii_digit).collect(),
        exponent.parse().unwrap_or(0),
    )
}

/// Adds one to the last digit; only used on odd digits, so it never carries.
fn increment_last_digit(digits: &str) -> String {
    let mut out = digits.to_owned();
    if let Some(last) = out.pop() {
        out.push(char::from(last as u8 + 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::canonicalize;

    fn canon(json: &str) -> String {
        let value: Value = serde_json::from_str(json).unwrap();
        String::from_utf8(canonicalize(&value)).unwrap()
    }

    fn number(f: f64) -> String {
        String::from_utf8(canonicalize(&json!(f))).unwrap()
    }

    // RFC 8785 §3.2.2, the sample input and its canonical output.
    #[test]
    fn rfc8785_sample() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        assert_eq!(
            canon(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    // RFC 8785 §3.2.3, the property sorting example.
    #[test]
    fn rfc8785_sorting() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        assert_eq!(
            canon(input),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            canon(r#""\u0000\u0001\b\t\n\u000b\f\r\u001f \u007f\u2028\"\\/""#),
            "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \u{7f}\u{2028}\\\"\\\\/\""
        );
    }

    // RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript strings.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        for (bits, want) in [
            (0x0000000000000000u64, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ] {
            assert_eq!(number(f64::from_bits(bits)), want, "{bits:#018x}");
        }
    }

    #[test]
    fn float_layout() {
        assert_eq!(number(1e21), "1e+21");
        assert_eq!(number(1e20), "100000000000000000000");
        assert_eq!(number(1e-7), "1e-7");
        assert_eq!(number(1.5e-7), "1.5e-7");
        assert_eq!(number(0.000001), "0.000001");
        assert_eq!(number(123456789012345680000.0), "123456789012345680000");
        assert_eq!(number(5e-324), "5e-324");
        assert_eq!(number(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(1.0), "1");
        assert_eq!(number(-2.5), "-2.5");
        assert_eq!(number(0.1), "0.1");
    }

    #[test]
    fn integers() {
        assert_eq!(
            canon("[0, -1, 42, 9007199254740992, -9007199254740992]"),
            "[0,-1,42,9007199254740992,-9007199254740992]"
        );
        // Beyond 2^53 integers become the nearest double, as in JavaScript.
        assert_eq!(canon("9007199254740993"), "9007199254740992");
        assert_eq!(canon("18446744073709551615"), "18446744073709552000");
        assert_eq!(canon("-9223372036854775808"), "-9223372036854776000");
    }

    #[test]
    fn nested_and_whitespace() {
        assert_eq!(
            canon(r#" { "b" : [ 1 , { "d" : {}, "c" : [] } ] , "a" : "" } "#),
            r#"{"a":"","b":[1,{"c":[],"d":{}}]}"#
        );
    }
}
