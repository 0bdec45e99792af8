//! Function table: Go text/template builtins and the deterministic Sprig subset bldr trees use.
//!
//! Each function declares Go parameter types so argument checks match Go's (`invalid value; expected
//! string` for a missing value passed to a string parameter, `expected integer; found "x"`, ...).
//! Argument order follows Sprig: the piped value is the last argument (`replace OLD NEW SRC`).

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::value::{go_quote, sprint, sprintf, sprintln, Value};

/// Go parameter type of a function argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    /// `interface{}` / `reflect.Value`: anything, a missing value becomes nil.
    Any,
    Str,
    Int,
    Bool,
}

impl Param {
    pub fn go_name(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str => "string",
            Param::Int => "int",
            Param::Bool => "bool",
        }
    }
}

pub(crate) type Impl = fn(&[Value]) -> Result<Value, String>;

#[derive(Debug)]
pub(crate) enum Kind {
    /// `and` / `or`: evaluate arguments lazily and return the deciding value.
    And,
    Or,
    Call(Impl),
}

#[derive(Debug)]
pub(crate) struct Func {
    pub name: &'static str,
    pub params: &'static [Param],
    pub variadic: Option<Param>,
    pub kind: Kind,
}

use Param::{Any, Int, Str};

macro_rules! f {
    ($name:literal, [$($p:expr),*], $var:expr, $imp:expr) => {
        Func { name: $name, params: &[$($p),*], variadic: $var, kind: Kind::Call($imp) }
    };
}

static FUNCS: &[Func] = &[
    // Go builtins.
    Func {
        name: "and",
        params: &[Any],
        variadic: Some(Any),
        kind: Kind::And,
    },
    Func {
        name: "or",
        params: &[Any],
        variadic: Some(Any),
        kind: Kind::Or,
    },
    f!("not", [Any], None, |a| Ok(Value::Bool(!a[0].is_true()))),
    f!("len", [Any], None, length),
    f!("index", [Any], Some(Any), index),
    f!("slice", [Any], Some(Any), slice),
    f!("print", [], Some(Any), |a| Ok(Value::str(sprint(a)))),
    f!("printf", [Str], Some(Any), |a| Ok(Value::str(sprintf(
        s(&a[0]),
        &a[1..]
    )))),
    f!("println", [], Some(Any), |a| Ok(Value::str(sprintln(a)))),
    f!("eq", [Any], Some(Any), eq),
    f!("ne", [Any, Any], None, |a| Ok(Value::Bool(!eq_pair(
        &a[0], &a[1]
    )?))),
    f!("lt", [Any, Any], None, |a| Ok(Value::Bool(lt(
        &a[0], &a[1]
    )?))),
    f!("le", [Any, Any], None, |a| Ok(Value::Bool(le(
        &a[0], &a[1]
    )?))),
    f!("gt", [Any, Any], None, |a| Ok(Value::Bool(!le(
        &a[0], &a[1]
    )?))),
    f!("ge", [Any, Any], None, |a| Ok(Value::Bool(!lt(
        &a[0], &a[1]
    )?))),
    f!("html", [], Some(Any), |a| Ok(Value::str(html_escape(
        &eval_args(a)
    )))),
    f!("urlquery", [], Some(Any), |a| Ok(Value::str(query_escape(
        &eval_args(a)
    )))),
    f!("js", [], Some(Any), |a| Ok(Value::str(js_escape(
        &eval_args(a)
    )))),
    // Sprig: defaults and logic.
    f!("default", [Any], Some(Any), |a| {
        Ok(match a.get(1) {
            Some(given) if !empty(given) => given.clone(),
            _ => a[0].clone(),
        })
    }),
    f!("empty", [Any], None, |a| Ok(Value::Bool(empty(&a[0])))),
    f!("coalesce", [], Some(Any), |a| Ok(a
        .iter()
        .find(|v| !empty(v))
        .cloned()
        .unwrap_or_default())),
    f!("all", [], Some(Any), |a| Ok(Value::Bool(
        a.iter().all(|v| !empty(v))
    ))),
    f!("any", [], Some(Any), |a| Ok(Value::Bool(
        a.iter().any(|v| !empty(v))
    ))),
    f!("ternary", [Any, Any, Param::Bool], None, |a| {
        Ok(if matches!(a[2], Value::Bool(true)) {
            a[0].clone()
        } else {
            a[1].clone()
        })
    }),
    // Sprig: strings.
    f!("replace", [Str, Str, Str], None, |a| {
        let (old, new, src) = (s(&a[0]), s(&a[1]), s(&a[2]));
        // An empty `old` matches between every character.
        let matches = if old.is_empty() {
            src.chars().count() + 1
        } else {
            src.len() / old.len()
        };
        check_size(src.len().saturating_add(matches.saturating_mul(new.len())))?;
        Ok(Value::str(src.replace(old, new)))
    }),
    f!("substr", [Int, Int, Str], None, |a| substr(
        i(&a[0]),
        i(&a[1]),
        s(&a[2])
    )),
    f!("trunc", [Int, Str], None, |a| trunc(i(&a[0]), s(&a[1]))),
    f!("cat", [], Some(Any), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Missing))
            .map(Value::sprint)
            .collect();
        Ok(Value::str(parts.join(" ")))
    }),
    f!("trim", [Str], None, |a| Ok(Value::str(s(&a[0]).trim()))),
    f!("trimAll", [Str, Str], None, trim_all),
    f!("trimall", [Str, Str], None, trim_all),
    f!("trimPrefix", [Str, Str], None, |a| {
        Ok(Value::str(
            s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1])),
        ))
    }),
    f!("trimSuffix", [Str, Str], None, |a| {
        Ok(Value::str(
            s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1])),
        ))
    }),
    f!("upper", [Str], None, |a| Ok(Value::str(map_chars(
        s(&a[0]),
        char::to_uppercase
    )))),
    f!("lower", [Str], None, |a| Ok(Value::str(map_chars(
        s(&a[0]),
        char::to_lowercase
    )))),
    f!("title", [Str], None, |a| Ok(Value::str(title(s(&a[0]))))),
    f!("untitle", [Str], None, |a| Ok(Value::str(untitle(
        s(&a[0])
    )))),
    f!("repeat", [Int, Str], None, |a| {
        let count =
            usize::try_from(i(&a[0])).map_err(|_| "strings: negative Repeat count".to_string())?;
        check_size(s(&a[1]).len().saturating_mul(count))?;
        Ok(Value::str(s(&a[1]).repeat(count)))
    }),
    f!("contains", [Str, Str], None, |a| Ok(Value::Bool(
        s(&a[1]).contains(s(&a[0]))
    ))),
    f!("hasPrefix", [Str, Str], None, |a| Ok(Value::Bool(
        s(&a[1]).starts_with(s(&a[0]))
    ))),
    f!("hasSuffix", [Str, Str], None, |a| Ok(Value::Bool(
        s(&a[1]).ends_with(s(&a[0]))
    ))),
    f!("split", [Str, Str], None, |a| Ok(numbered_map(go_split(
        s(&a[1]),
        s(&a[0]),
        -1
    )))),
    f!("splitn", [Str, Int, Str], None, |a| Ok(numbered_map(
        go_split(s(&a[2]), s(&a[0]), i(&a[1]))
    ))),
    f!("splitList", [Str, Str], None, |a| {
        Ok(Value::list(
            go_split(s(&a[1]), s(&a[0]), -1)
                .into_iter()
                .map(Value::str)
                .collect(),
        ))
    }),
    f!("join", [Str, Any], None, |a| {
        let items = strslice(&a[1]);
        check_size(
            items
                .iter()
                .map(|item| item.len().saturating_add(s(&a[0]).len()))
                .fold(0usize, usize::saturating_add),
        )?;
        Ok(Value::str(items.join(s(&a[0]))))
    }),
    f!("sortAlpha", [Any], None, |a| {
        let mut items = match &a[0] {
            Value::List(_) => strslice(&a[0]),
            other => vec![strval(other)],
        };
        items.sort();
        Ok(Value::list(items.into_iter().map(Value::str).collect()))
    }),
    f!("toStrings", [Any], None, |a| Ok(Value::list(
        strslice(&a[0]).into_iter().map(Value::str).collect()
    ))),
    f!("quote", [], Some(Any), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Missing))
            .map(|v| go_quote(&strval(v)))
            .collect();
        Ok(Value::str(parts.join(" ")))
    }),
    f!("squote", [], Some(Any), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Missing))
            .map(|v| format!("'{}'", strval(v)))
            .collect();
        Ok(Value::str(parts.join(" ")))
    }),
    f!("indent", [Int, Str], None, |a| indent(i(&a[0]), s(&a[1]))
        .map(Value::str)),
    f!("nindent", [Int, Str], None, |a| indent(i(&a[0]), s(&a[1]))
        .map(|t| Value::str(format!("\n{t}")))),
    f!("nospace", [Str], None, |a| Ok(Value::str(
        s(&a[0])
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
    ))),
    f!("plural", [Str, Str, Int], None, |a| Ok(if i(&a[2]) == 1 {
        a[0].clone()
    } else {
        a[1].clone()
    })),
    f!("toString", [Any], None, |a| Ok(Value::str(strval(&a[0])))),
    f!("b64enc", [Str], None, |a| Ok(Value::str(b64_encode(
        s(&a[0]).as_bytes()
    )))),
    f!("b64dec", [Str], None, |a| {
        // Sprig returns the decoder's error text as the result instead of failing.
        Ok(Value::str(match b64_decode(s(&a[0])) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => e,
        }))
    }),
    f!("regexMatch", [Str, Str], None, crate::regex::regex_match),
    f!("regexFind", [Str, Str], None, crate::regex::regex_find),
    f!(
        "regexFindAll",
        [Str, Str, Int],
        None,
        crate::regex::regex_find_all
    ),
    f!(
        "regexReplaceAll",
        [Str, Str, Str],
        None,
        crate::regex::regex_replace_all
    ),
    f!(
        "regexReplaceAllLiteral",
        [Str, Str, Str],
        None,
        crate::regex::regex_replace_all_literal
    ),
    f!(
        "regexSplit",
        [Str, Str, Int],
        None,
        crate::regex::regex_split
    ),
    f!(
        "regexQuoteMeta",
        [Str],
        None,
        crate::regex::regex_quote_meta
    ),
    f!("sha256sum", [Str], None, |a| Ok(Value::str(
        crate::sha256::hex_digest(s(&a[0]).as_bytes())
    ))),
    // Sprig: conversions and integer math (int64 results, like Sprig).
    f!("atoi", [Str], None, |a| Ok(Value::Int(atoi(s(&a[0]))))),
    f!("int", [Any], None, |a| Ok(Value::Int(to_int64(&a[0])))),
    f!("int64", [Any], None, |a| Ok(Value::Int(to_int64(&a[0])))),
    f!("float64", [Any], None, |a| Ok(Value::Float(to_float64(
        &a[0]
    )))),
    f!("add", [], Some(Any), |a| Ok(Value::Int(
        a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v)))
    ))),
    f!("add1", [Any], None, |a| Ok(Value::Int(
        to_int64(&a[0]).wrapping_add(1)
    ))),
    f!("sub", [Any, Any], None, |a| Ok(Value::Int(
        to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))
    ))),
    f!("mul", [Any], Some(Any), |a| Ok(Value::Int(
        a.iter().fold(1i64, |acc, v| acc.wrapping_mul(to_int64(v)))
    ))),
    f!("div", [Any, Any], None, |a| {
        to_int64(&a[0])
            .checked_div(to_int64(&a[1]))
            .map(Value::Int)
            .ok_or_else(divide_by_zero)
    }),
    f!("mod", [Any, Any], None, |a| {
        to_int64(&a[0])
            .checked_rem(to_int64(&a[1]))
            .map(Value::Int)
            .ok_or_else(divide_by_zero)
    }),
    f!("max", [Any], Some(Any), |a| Ok(Value::Int(
        a.iter().map(to_int64).max().unwrap_or(0)
    ))),
    f!("min", [Any], Some(Any), |a| Ok(Value::Int(
        a.iter().map(to_int64).min().unwrap_or(0)
    ))),
    // Sprig: lists and dicts.
    f!("list", [], Some(Any), |a| Ok(Value::list(a.to_vec()))),
    f!("first", [Any], None, |a| list_of(&a[0], "first")
        .map(|l| l.first().cloned().unwrap_or_default())),
    f!("last", [Any], None, |a| list_of(&a[0], "last")
        .map(|l| l.last().cloned().unwrap_or_default())),
    f!("rest", [Any], None, |a| list_of(&a[0], "rest")
        .map(|l| Value::list(l.iter().skip(1).cloned().collect()))),
    f!("initial", [Any], None, |a| {
        list_of(&a[0], "initial").map(|l| Value::list(l[..l.len().saturating_sub(1)].to_vec()))
    }),
    f!("reverse", [Any], None, |a| list_of(&a[0], "reverse")
        .map(|l| Value::list(l.iter().rev().cloned().collect()))),
    f!("append", [Any, Any], None, push),
    f!("push", [Any, Any], None, push),
    f!("prepend", [Any, Any], None, |a| {
        let mut items = vec![a[1].clone()];
        items.extend(list_of(&a[0], "prepend")?.iter().cloned());
        Ok(Value::list(items))
    }),
    f!("uniq", [Any], None, |a| {
        let mut out: Vec<Value> = Vec::new();
        for v in list_of(&a[0], "uniq")?.iter() {
            if !out.iter().any(|o| o.deep_equal(v)) {
                out.push(v.clone());
            }
        }
        Ok(Value::list(out))
    }),
    f!("has", [Any, Any], None, |a| match &a[1] {
        Value::Missing => Ok(Value::Bool(false)),
        Value::List(items) => Ok(Value::Bool(items.iter().any(|v| v.deep_equal(&a[0])))),
        other => Err(format!("Cannot find has on type {}", other.type_name())),
    }),
    f!("until", [Int], None, |a| {
        let n = i(&a[0]);
        if n.unsigned_abs() > crate::MAX_LIST_LENGTH as u64 {
            return Err(format!(
                "until {n}: lists are limited to {} items",
                crate::MAX_LIST_LENGTH
            ));
        }
        let items: Vec<Value> = if n >= 0 {
            (0..n).map(Value::Int).collect()
        } else {
            (n + 1..=0).rev().map(Value::Int).collect()
        };
        Ok(Value::list(items))
    }),
    f!("dict", [], Some(Any), |a| {
        let mut map = BTreeMap::new();
        for pair in a.chunks(2) {
            map.insert(
                strval(&pair[0]),
                pair.get(1).cloned().unwrap_or_else(|| Value::str("")),
            );
        }
        Ok(Value::Map(Rc::new(map)))
    }),
    f!("hasKey", [Any, Str], None, |a| match &a[0] {
        Value::Map(m) => Ok(Value::Bool(m.contains_key(s(&a[1])))),
        other => Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
    }),
    f!("get", [Any, Str], None, |a| match &a[0] {
        Value::Map(m) => Ok(m.get(s(&a[1])).cloned().unwrap_or_else(|| Value::str(""))),
        other => Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
    }),
];

/// The function named `name`, if templates may call it.
pub(crate) fn lookup(name: &str) -> Option<&'static Func> {
    FUNCS.iter().find(|f| f.name == name)
}

/// Every function name, for messages and documentation.
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCS.iter().map(|f| f.name)
}

/// String argument (already type-checked by the caller).
pub(crate) fn s(v: &Value) -> &str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

/// Integer argument (already type-checked by the caller).
pub(crate) fn i(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        _ => 0,
    }
}

fn divide_by_zero() -> String {
    "runtime error: integer divide by zero".to_string()
}

/// Sprig's `strval`: strings as is, everything else as `%v`.
fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.sprint(),
    }
}

/// Sprig's `strslice`: a list as strings (nil items dropped), nil as empty, anything else as one item.
fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items
            .iter()
            .filter(|v| !matches!(v, Value::Missing))
            .map(strval)
            .collect(),
        Value::Missing => Vec::new(),
        other => vec![strval(other)],
    }
}

fn list_of<'v>(v: &'v Value, what: &str) -> Result<&'v [Value], String> {
    match v {
        Value::List(items) => Ok(items),
        Value::Missing => Err(format!("Cannot find {what} on a missing value")),
        other => Err(format!("Cannot find {what} on type {}", other.type_name())),
    }
}

fn push(a: &[Value]) -> Result<Value, String> {
    let mut items = list_of(&a[0], "push")?.to_vec();
    items.push(a[1].clone());
    Ok(Value::list(items))
}

/// Sprig's `empty`: nil, zero numbers, false, and empty strings/lists/maps.
pub(crate) fn empty(v: &Value) -> bool {
    !v.is_true()
}

fn eval_args(a: &[Value]) -> String {
    match a {
        [Value::Str(s)] => s.to_string(),
        _ => sprint(a),
    }
}

fn length(a: &[Value]) -> Result<Value, String> {
    match &a[0] {
        Value::Str(s) => Ok(Value::Int(s.len() as i64)),
        Value::List(l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.len() as i64)),
        Value::Missing => Err("len of a missing value".into()),
        other => Err(format!("len of type {}", other.type_name())),
    }
}

fn index_arg(idx: &Value, len: usize, what: &str) -> Result<usize, String> {
    match idx {
        Value::Int(x) if *x >= 0 && (*x as u64) < len as u64 => Ok(*x as usize),
        Value::Int(x) => Err(format!("index out of range: {x}")),
        other => Err(format!(
            "cannot index {what} with type {}",
            other.type_name()
        )),
    }
}

fn index(a: &[Value]) -> Result<Value, String> {
    let mut item = a[0].clone();
    for idx in &a[1..] {
        item = match &item {
            Value::Missing => return Err("index of untyped nil".into()),
            Value::List(l) => l[index_arg(idx, l.len(), "slice/array")?].clone(),
            Value::Str(s) => {
                Value::Int(i64::from(s.as_bytes()[index_arg(idx, s.len(), "string")?]))
            }
            Value::Map(m) => match idx {
                // A missing key gives the element type's zero value (our maps hold strings).
                Value::Str(k) => m.get(&**k).cloned().unwrap_or_else(|| Value::str("")),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(a: &[Value]) -> Result<Value, String> {
    let item = &a[0];
    let len = match item {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Missing => return Err("slice of untyped nil".into()),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    if a.len() > 4 {
        return Err(format!("too many slice indexes: {}", a.len() - 1));
    }
    if matches!(item, Value::Str(_)) && a.len() == 4 {
        return Err("cannot 3-index slice a string".into());
    }
    let mut bounds = [0usize, len, len];
    for (n, idx) in a[1..].iter().enumerate() {
        bounds[n] = match idx {
            Value::Int(x) if *x >= 0 && (*x as u64) <= len as u64 => *x as usize,
            Value::Int(x) => return Err(format!("index out of range: {x}")),
            other => {
                return Err(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                ))
            }
        };
    }
    if a.len() < 3 {
        bounds[1] = len;
    }
    let (lo, hi) = (bounds[0], bounds[1]);
    if lo > hi {
        return Err(format!("invalid slice index: {lo} > {hi}"));
    }
    match item {
        Value::Str(s) => s
            .get(lo..hi)
            .map(Value::str)
            .ok_or_else(|| "slice splits a UTF-8 character".to_string()),
        Value::List(l) => Ok(Value::list(l[lo..hi].to_vec())),
        _ => Ok(Value::Missing),
    }
}

/// Go's `basicKind` classes; anything else is not an ordered/basic type.
#[derive(PartialEq, Eq, Clone, Copy)]
enum BasicKind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> BasicKind {
    match v {
        Value::Bool(_) => BasicKind::Bool,
        Value::Int(_) => BasicKind::Int,
        Value::Float(_) => BasicKind::Float,
        Value::Str(_) => BasicKind::Str,
        _ => BasicKind::Other,
    }
}

fn incompatible(a: &Value, b: &Value) -> String {
    format!(
        "incompatible types for comparison: {} and {}",
        a.type_name(),
        b.type_name()
    )
}

/// Go's `eq` for one pair. A missing value compares unequal to any present value (no error, as in Go
/// since 1.18); two missing values are equal.
fn eq_pair(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (basic_kind(a), basic_kind(b));
    let missing = matches!(a, Value::Missing) || matches!(b, Value::Missing);
    if ka != kb {
        return if missing {
            Ok(false)
        } else {
            Err(incompatible(a, b))
        };
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        _ if missing => matches!(a, Value::Missing) && matches!(b, Value::Missing),
        (Value::List(_), Value::List(_)) | (Value::Map(_), Value::Map(_)) => {
            return Err(format!(
                "non-comparable type {}: {}",
                a.sprint(),
                a.type_name()
            ));
        }
        _ => {
            return Err(format!(
                "non-comparable types {}: {}, {}: {}",
                a.sprint(),
                a.type_name(),
                b.type_name(),
                b.sprint()
            ))
        }
    })
}

fn eq(a: &[Value]) -> Result<Value, String> {
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    for other in &a[1..] {
        if eq_pair(&a[0], other)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (basic_kind(a), basic_kind(b));
    if ka == BasicKind::Other || kb == BasicKind::Other {
        return Err("invalid type for comparison".into());
    }
    if ka != kb {
        return Err(incompatible(a, b));
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => Err("invalid type for comparison".into()),
    }
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(lt(a, b)? || eq_pair(a, b)?)
}

fn substr(start: i64, end: i64, s: &str) -> Result<Value, String> {
    // Sprig slices bytes: start < 0 means from 0, end < 0 or past the end means to the end.
    let len = s.len() as i64;
    let (lo, hi) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    if lo > hi || hi > len || lo > len {
        return Err(format!(
            "runtime error: slice bounds out of range [{lo}:{hi}] with length {len}"
        ));
    }
    s.get(lo as usize..hi as usize)
        .map(Value::str)
        .ok_or_else(|| format!("substr {start} {end} splits a UTF-8 character"))
}

fn trunc(c: i64, s: &str) -> Result<Value, String> {
    let len = s.len() as i64;
    let out = if c < 0 && len + c > 0 {
        s.get((len + c) as usize..)
    } else if c >= 0 && len > c {
        s.get(..c as usize)
    } else {
        Some(s)
    };
    out.map(Value::str)
        .ok_or_else(|| format!("trunc {c} splits a UTF-8 character"))
}

fn trim_all(a: &[Value]) -> Result<Value, String> {
    let cutset: Vec<char> = s(&a[0]).chars().collect();
    Ok(Value::str(s(&a[1]).trim_matches(|c| cutset.contains(&c))))
}

/// Per-character case mapping that keeps characters whose mapping is not a single character (as Go does).
fn map_chars<I: Iterator<Item = char>>(s: &str, f: fn(char) -> I) -> String {
    s.chars()
        .map(|c| {
            let mut m = f(c);
            match (m.next(), m.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

fn single_upper(c: char) -> char {
    let mut m = c.to_uppercase();
    match (m.next(), m.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

fn single_lower(c: char) -> char {
    let mut m = c.to_lowercase();
    match (m.next(), m.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

/// Go's `strings.Title`: upper-case letters that start a word (word separators as in Go).
fn title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) {
                single_upper(c)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

/// Sprig's `untitle`: lower-cases the first letter of each whitespace-separated word.
fn untitle(s: &str) -> String {
    let mut prev_space = true;
    s.chars()
        .map(|c| {
            let out = if prev_space { single_lower(c) } else { c };
            prev_space = c.is_whitespace();
            out
        })
        .collect()
}

/// Refuses to build a string of `bytes` when that exceeds the rendered-size limit.
fn check_size(bytes: usize) -> Result<(), String> {
    if bytes > crate::MAX_RENDERED_BYTES {
        Err(format!(
            "the result would be {bytes} bytes, over the {} MiB limit of a rendered file",
            crate::MAX_RENDERED_BYTES >> 20
        ))
    } else {
        Ok(())
    }
}

fn indent(spaces: i64, text: &str) -> Result<String, String> {
    let n = usize::try_from(spaces).map_err(|_| "strings: negative Repeat count".to_string())?;
    let lines = text.bytes().filter(|b| *b == b'\n').count() + 1;
    check_size(text.len().saturating_add(n.saturating_mul(lines)))?;
    let pad = " ".repeat(n);
    Ok(format!("{pad}{}", text.replace('\n', &format!("\n{pad}"))))
}

/// Go's `strings.SplitN` (`n < 0`: all parts; `n == 0`: none); an empty separator splits characters.
fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    if sep.is_empty() {
        let chars: Vec<char> = s.chars().collect();
        let mut out: Vec<String> = Vec::new();
        for (k, c) in chars.iter().enumerate() {
            if out.len() + 1 == limit {
                out.push(chars[k..].iter().collect());
                return out;
            }
            out.push(c.to_string());
        }
        return out;
    }
    s.splitn(limit, sep).map(str::to_string).collect()
}

/// Sprig's `split` result: a map `_0`, `_1`, ... of the parts.
fn numbered_map(parts: Vec<String>) -> Value {
    let map: BTreeMap<String, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(k, p)| (format!("_{k}"), Value::str(p)))
        .collect();
    Value::Map(Rc::new(map))
}

/// `strconv.Atoi` with Sprig's "0 on error".
fn atoi(s: &str) -> i64 {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    s.parse().unwrap_or(0)
}

/// `cast.ToInt64` as Sprig uses it: strings parse with base prefixes (`0x`, `0o`, `0b`, leading `0`),
/// a zero fraction (`3.0`) is accepted, anything unparsable is 0.
pub(crate) fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            let trimmed = trim_zero_decimal(s);
            match crate::lex::parse_number(trimmed) {
                Some(n) if !n.float_syntax => n.int.unwrap_or(0),
                _ => 0,
            }
        }
        _ => 0,
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (k, b) in s.bytes().enumerate().rev() {
        match b {
            b'.' if found_zero => return &s[..k],
            b'.' => return s,
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding; errors read like Go's `illegal base64 data at input byte N`.
fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes: Vec<(usize, u8)> = text
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b != b'\n' && b != b'\r')
        .collect();
    let illegal = |k: usize| format!("illegal base64 data at input byte {k}");
    if !bytes.len().is_multiple_of(4) {
        let at = bytes.len() - bytes.len() % 4;
        return Err(illegal(
            bytes.get(at).map(|&(k, _)| k).unwrap_or(text.len()),
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (q, quad) in bytes.chunks(4).enumerate() {
        let last = q == bytes.len() / 4 - 1;
        let mut n = 0u32;
        let mut pad = 0;
        for (k, &(at, b)) in quad.iter().enumerate() {
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' if last && k >= 2 => {
                    pad += 1;
                    0
                }
                _ => return Err(illegal(at)),
            };
            if pad > 0 && b != b'=' {
                return Err(illegal(at));
            }
            n = (n << 6) | u32::from(v);
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Ok(out)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || c.is_control() => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_rfc4648_vectors() {
        // RFC 4648 section 10 test vectors.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64_encode(plain.as_bytes()), enc);
            assert_eq!(b64_decode(enc).as_deref(), Ok(plain.as_bytes()));
        }
        assert_eq!(
            b64_decode("Zm9v!"),
            Err("illegal base64 data at input byte 4".to_string())
        );
        assert_eq!(
            b64_decode("Zm!v"),
            Err("illegal base64 data at input byte 2".to_string())
        );
    }

    #[test]
    fn cast_to_int64_like_spf13_cast() {
        assert_eq!(to_int64(&Value::str("42")), 42);
        assert_eq!(to_int64(&Value::str("0x10")), 16);
        assert_eq!(to_int64(&Value::str("3.00")), 3);
        assert_eq!(to_int64(&Value::str("3.5")), 0);
        assert_eq!(to_int64(&Value::str("abc")), 0);
        assert_eq!(to_int64(&Value::Float(7.9)), 7);
        assert_eq!(to_int64(&Value::Bool(true)), 1);
        assert_eq!(to_int64(&Value::Missing), 0);
    }

    #[test]
    fn go_split_semantics() {
        assert_eq!(go_split("a,b,c", ",", -1), ["a", "b", "c"]);
        assert_eq!(go_split("a,b,c", ",", 2), ["a", "b,c"]);
        assert_eq!(go_split("", ",", -1), [""]);
        assert_eq!(go_split("abc", "", -1), ["a", "b", "c"]);
        assert_eq!(go_split("abc", "", 2), ["a", "bc"]);
        assert!(go_split("a,b", ",", 0).is_empty());
    }

    #[test]
    fn title_matches_strings_title() {
        // strings.Title("hello wOrld-foo_bar") == "Hello WOrld-Foo_bar"
        assert_eq!(title("hello wOrld-foo_bar"), "Hello WOrld-Foo_bar");
        assert_eq!(untitle("Hello World"), "hello world");
    }
}
