//! Runtime values and their Go `fmt` renderings (`%v`, `%q`, `printf`), so output matches what Go prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// A template value. `Missing` is Go's invalid `reflect.Value`: a missing map key or a nil result.
#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Missing,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<Value>>),
    Map(Rc<BTreeMap<String, Value>>),
    /// The render's data map, read in place; the executor turns it into a `Map` before it reaches
    /// a function, the output or `range`, so copying the data only happens when a template needs it whole.
    Root,
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(Rc::from(s.into()))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(items))
    }

    /// Go type name used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) | Value::Root => "map[string]string",
        }
    }

    /// Go template truthiness (`text/template.IsTrue`).
    pub fn is_true(&self) -> bool {
        match self {
            Value::Missing => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Root => true,
        }
    }

    /// Deep equality as Go's `reflect.DeepEqual` on the same dynamic types.
    pub fn deep_equal(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Missing, Value::Missing) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.deep_equal(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.deep_equal(vb))
            }
            _ => false,
        }
    }

    /// How a template action prints the value: `<no value>` for a missing value, else `fmt.Print`.
    pub fn to_output(&self) -> String {
        match self {
            Value::Missing => "<no value>".to_string(),
            Value::Str(s) => s.to_string(),
            other => {
                let mut out = String::new();
                write_v(&mut out, other);
                out
            }
        }
    }

    /// `fmt.Sprint` of one operand (`%v`); nil prints as `<nil>`.
    pub fn sprint(&self) -> String {
        let mut out = String::new();
        write_v(&mut out, self);
        out
    }
}

/// Appends Go's `%v` rendering of `v`.
pub fn write_v(out: &mut String, v: &Value) {
    match v {
        Value::Missing => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float_g(*f, None)),
        Value::Str(s) => out.push_str(s),
        Value::Root => out.push_str("map[]"),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, item);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push_str("map[");
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, item);
            }
            out.push(']');
        }
    }
}

/// Splits Rust's `{:e}` rendering into (digits without the point, decimal exponent).
fn sci_parts(s: &str) -> (String, i32) {
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

fn go_exponent(exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("e{sign}{:02}", exp.abs())
}

/// Go's `%g` (shortest when `prec` is None), which is also `%v` for floats.
/// Long by design: Go's `%g` choice between `%e` and `%f` with its trimming rules.
pub fn format_float_g(f: f64, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = f.is_sign_negative();
    let a = f.abs();
    let repr = match prec {
        None => format!("{a:e}"),
        Some(p) => format!("{a:.*e}", p.max(1) - 1),
    };
    let (mut digits, exp) = sci_parts(&repr);
    if prec.is_some() {
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
    }
    if a == 0.0 {
        digits = "0".into();
    }
    // strconv: shortest formatting decides on exponent form with precision 6; explicit precision uses itself.
    let eprec = match prec {
        None => 6,
        Some(p) => p.max(1) as i32,
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if a != 0.0 && (exp < -4 || exp >= eprec) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&go_exponent(exp));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Go's `%e` with precision.
fn format_float_e(f: f64, prec: usize) -> String {
    let s = format!("{f:.prec$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    format!("{mantissa}{}", go_exponent(exp.parse().unwrap_or(0)))
}

/// `strconv.Quote`: a double-quoted Go string literal, printable Unicode kept as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Formatting directive flags parsed from a `printf` verb.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn pad(&self, body: String, numeric: bool) -> String {
        let Some(width) = self.width else { return body };
        let len = body.chars().count();
        if len >= width {
            return body;
        }
        let fill = width - len;
        if self.minus {
            return body + &" ".repeat(fill);
        }
        if self.zero && numeric {
            let (sign, rest) = match body.chars().next() {
                Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
                _ => (String::new(), body),
            };
            return sign + &"0".repeat(fill) + &rest;
        }
        " ".repeat(fill) + &body
    }

    fn sign(&self, negative: bool) -> &'static str {
        if negative {
            "-"
        } else if self.plus {
            "+"
        } else if self.space {
            " "
        } else {
            ""
        }
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Missing => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", v.type_name(), v.sprint()),
    }
}

/// Long by design: one arm per verb and value kind, the table Go's fmt applies.
fn format_one(spec: &Spec, verb: char, v: &Value) -> String {
    // Lists and maps apply the verb element-wise, as fmt does.
    match v {
        Value::List(items) if verb != 'T' => {
            let parts: Vec<String> = items.iter().map(|i| format_one(spec, verb, i)).collect();
            return format!("[{}]", parts.join(" "));
        }
        Value::Map(map) if verb != 'T' => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, i)| format!("{k}:{}", format_one(spec, verb, i)))
                .collect();
            return format!("map[{}]", parts.join(" "));
        }
        _ => {}
    }
    match (verb, v) {
        ('T', _) => spec.pad(v.type_name().to_string(), false),
        ('v', Value::Int(_) | Value::Float(_)) if spec.prec.is_none() => {
            let s = v.sprint();
            let s = if spec.plus && !s.starts_with('-') {
                format!("+{s}")
            } else {
                s
            };
            spec.pad(s, true)
        }
        ('v', Value::Float(f)) => spec.pad(format_float_g(*f, spec.prec), true),
        ('v', _) => spec.pad(v.sprint(), false),
        ('s', Value::Str(s)) => {
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            spec.pad(s, false)
        }
        ('q', Value::Str(s)) => {
            let quoted = if spec.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            };
            spec.pad(quoted, false)
        }
        ('q' | 'c', Value::Int(i)) => {
            let c = u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            if verb == 'c' {
                spec.pad(c.to_string(), false)
            } else {
                let q = go_quote(&c.to_string());
                let inner = &q[1..q.len() - 1];
                let inner = if inner == "'" {
                    "\\'"
                } else if inner == "\\\"" {
                    "\""
                } else {
                    inner
                };
                spec.pad(format!("'{inner}'"), false)
            }
        }
        ('x' | 'X', Value::Str(s)) => {
            let mut out = String::with_capacity(s.len() * 2);
            for b in s.bytes() {
                let _ = if verb == 'x' {
                    write!(out, "{b:02x}")
                } else {
                    write!(out, "{b:02X}")
                };
            }
            spec.pad(out, false)
        }
        ('d' | 'x' | 'X' | 'o' | 'b', Value::Int(i)) => {
            let mag = i.unsigned_abs();
            let digits = match verb {
                'd' => mag.to_string(),
                'x' => format!("{}{mag:x}", if spec.sharp { "0x" } else { "" }),
                'X' => format!("{}{mag:X}", if spec.sharp { "0X" } else { "" }),
                'o' => format!("{}{mag:o}", if spec.sharp { "0" } else { "" }),
                _ => format!("{mag:b}"),
            };
            let digits = match spec.prec {
                Some(p) if digits.len() < p => "0".repeat(p - digits.len()) + &digits,
                _ => digits,
            };
            spec.pad(format!("{}{digits}", spec.sign(*i < 0)), true)
        }
        ('t', Value::Bool(b)) => spec.pad(b.to_string(), false),
        ('f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Float(f)) => {
            let body = match verb {
                'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f.abs()),
                'e' | 'E' => format_float_e(f.abs(), spec.prec.unwrap_or(6)),
                _ => format_float_g(f.abs(), spec.prec),
            };
            // %E and %G print the exponent (and Inf/NaN) in capitals; %F is %f.
            let body = if matches!(verb, 'E' | 'G') {
                body.to_uppercase()
            } else {
                body
            };
            spec.pad(
                format!("{}{body}", spec.sign(f.is_sign_negative() && *f != 0.0)),
                true,
            )
        }
        _ => bad_verb(verb, v),
    }
}

/// `fmt.Sprintf` for the verbs templates use: %v %s %d %q %x %X %o %b %c %t %f %e %g %T %%,
/// with flags `-+# 0`, width and precision. Mismatches render like Go (`%!d(string=x)`).
/// Long by design: Go's flag, width, precision and verb scan of one format string.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut next_arg = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
            let mut n: Option<usize> = None;
            while let Some(&(_, d)) = chars.peek() {
                match d.to_digit(10) {
                    Some(digit) => {
                        n = Some(
                            n.unwrap_or(0)
                                .saturating_mul(10)
                                .saturating_add(digit as usize),
                        );
                        chars.next();
                    }
                    None => break,
                }
            }
            // Go's fmt treats a width or precision above 10^6 as absent (`tooLarge`).
            n.filter(|&n| n <= 1_000_000)
        };
        spec.width = number(&mut chars);
        if let Some(&(_, '.')) = chars.peek() {
            chars.next();
            spec.prec = Some(number(&mut chars).unwrap_or(0));
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next_arg) {
            Some(v) => out.push_str(&format_one(&spec, verb, v)),
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
        }
        next_arg += 1;
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, v) in args[next_arg..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", v.type_name(), v.sprint());
        }
        out.push(')');
    }
    out
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        write_v(&mut out, v);
    }
    out
}

/// `fmt.Sprintln`: always spaces between operands, newline at the end.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, v);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        // Values from Go: fmt.Sprint(1.5)="1.5", fmt.Sprint(1e6)="1e+06", fmt.Sprint(100000.0)="100000",
        // fmt.Sprint(0.0001)="0.0001", fmt.Sprint(0.00001)="1e-05", fmt.Sprint(2.0)="2".
        assert_eq!(format_float_g(1.5, None), "1.5");
        assert_eq!(format_float_g(1e6, None), "1e+06");
        assert_eq!(format_float_g(100000.0, None), "100000");
        assert_eq!(format_float_g(0.0001, None), "0.0001");
        assert_eq!(format_float_g(0.00001, None), "1e-05");
        assert_eq!(format_float_g(2.0, None), "2");
        assert_eq!(format_float_g(-0.5, None), "-0.5");
        assert_eq!(format_float_g(123456789.0, None), "1.23456789e+08");
    }

    #[test]
    fn sprintf_matches_go() {
        let s = |x: &str| Value::str(x);
        assert_eq!(sprintf("%s-%d", &[s("a"), Value::Int(3)]), "a-3");
        assert_eq!(sprintf("%q", &[s("a\"b\n")]), r#""a\"b\n""#);
        assert_eq!(sprintf("%x %X", &[s("hi"), Value::Int(255)]), "6869 FF");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &[s("x")]), "x %!s(MISSING)");
        assert_eq!(sprintf("%s", &[s("x"), Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(
            sprintf("%5s|%-5s|%05d", &[s("ab"), s("cd"), Value::Int(-42)]),
            "   ab|cd   |-0042"
        );
        assert_eq!(
            sprintf("%.2f %v", &[Value::Float(1.23456), Value::Bool(true)]),
            "1.23 true"
        );
        assert_eq!(
            sprintf("%v", &[Value::list(vec![s("a"), Value::Int(1)])]),
            "[a 1]"
        );
        assert_eq!(sprintf("%s", &[Value::Missing]), "%!s(<nil>)");
        assert_eq!(sprintf("%.3s", &[s("abcdef")]), "abc");
        assert_eq!(sprintf("%e", &[Value::Float(1234.5678)]), "1.234568e+03");
        assert_eq!(sprintf("%q", &[Value::Int(65)]), "'A'");
    }

    #[test]
    fn sprint_spacing_like_go() {
        // fmt.Sprint("a", 1, 2, "b") = "a1 2b"
        assert_eq!(
            sprint(&[
                Value::str("a"),
                Value::Int(1),
                Value::Int(2),
                Value::str("b")
            ]),
            "a1 2b"
        );
        assert_eq!(sprintln(&[Value::str("a"), Value::Int(1)]), "a 1\n");
    }
}
