//! Executor: walks the parsed tree with Go's semantics and records, for each output line, the
//! template source line that produced its first byte.

use std::collections::BTreeSet;

use crate::error::RawError;
use crate::funcs::{Func, Kind, Param};
use crate::parse::{Arg, Cmd, Control, Node, Pipe};
use crate::value::Value;
use crate::Template;

/// `{{template}}` calls plus the blocks open inside them, so a self-recursive define fails cleanly
/// instead of overflowing the stack.
const MAX_TEMPLATE_DEPTH: usize = 2 * crate::MAX_NESTING;

/// String bytes a function handles per execution step: the slowest string functions (`upper`,
/// `title`) take about as long per 16 bytes as the engine takes per step, so the step limit
/// bounds time whatever mix of calls a template makes.
const STR_BYTES_PER_STEP: usize = 16;

/// Output text plus the source line of the first byte of every output line.
#[derive(Default)]
pub(crate) struct Out {
    pub text: String,
    pub lines: Vec<usize>,
    /// The next byte starts a new output line (true at the start).
    fresh_line: bool,
}

impl Out {
    fn new() -> Out {
        Out {
            text: String::new(),
            lines: Vec::new(),
            fresh_line: true,
        }
    }

    /// Appends `s`. Template text advances its source line at each newline; action output keeps
    /// the action's line throughout.
    fn emit(
        &mut self,
        s: &str,
        mut line: usize,
        text_advances: bool,
        pos: usize,
    ) -> Result<(), RawError> {
        if self.text.len().saturating_add(s.len()) > crate::MAX_RENDERED_BYTES {
            return Err(RawError::new(
                pos,
                format!(
                    "the rendered file would exceed {} MiB (a fixed limit); generate less text",
                    crate::MAX_RENDERED_BYTES >> 20
                ),
            ));
        }
        let mut rest = s;
        while !rest.is_empty() {
            if self.fresh_line {
                self.lines.push(line);
                self.fresh_line = false;
            }
            match rest.find('\n') {
                Some(nl) => {
                    self.text.push_str(&rest[..=nl]);
                    rest = &rest[nl + 1..];
                    self.fresh_line = true;
                    if text_advances {
                        line += 1;
                    }
                }
                None => {
                    self.text.push_str(rest);
                    break;
                }
            }
        }
        Ok(())
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct State<'t> {
    tmpl: &'t Template,
    data: &'t crate::Data,
    /// `data` as a `Map`, built the first time a template needs the whole map.
    root_map: Option<Value>,
    /// `.KEY` values of `data` read so far.
    root_values: std::collections::HashMap<&'t str, Value>,
    vars: Vec<(&'t str, Value)>,
    pub out: Out,
    depth: usize,
    /// Execution steps taken, bounded by [`crate::MAX_STEPS`].
    steps: u64,
    /// (key, byte offset) of every `.KEY` lookup that found no entry.
    pub missing: BTreeSet<(usize, String)>,
}

impl<'t> State<'t> {
    pub fn new(tmpl: &'t Template, data: &'t crate::Data) -> State<'t> {
        State {
            tmpl,
            data,
            root_map: None,
            root_values: std::collections::HashMap::new(),
            vars: vec![("$", Value::Root)],
            out: Out::new(),
            depth: 0,
            steps: 0,
            missing: BTreeSet::new(),
        }
    }

    /// Replaces the lazy root by the real map (built once per render).
    fn resolve(&mut self, v: Value) -> Value {
        if !matches!(v, Value::Root) {
            return v;
        }
        let data = self.data;
        self.root_map
            .get_or_insert_with(|| {
                let map = data
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::str(v.clone())))
                    .collect();
                Value::Map(std::rc::Rc::new(map))
            })
            .clone()
    }

    fn truth(&self, v: &Value) -> bool {
        match v {
            Value::Root => !self.data.is_empty(),
            other => other.is_true(),
        }
    }

    pub fn run(&mut self) -> Result<(), RawError> {
        self.walk(&Value::Root, &self.tmpl.root).map(|_| ())
    }

    /// Counts `cost` execution steps at `pos`, failing past [`crate::MAX_STEPS`].
    fn charge(&mut self, pos: usize, cost: u64) -> Result<(), RawError> {
        self.steps = self.steps.saturating_add(cost);
        if self.steps > crate::MAX_STEPS {
            return Err(RawError::new(
                pos,
                format!(
                    "the template takes more than {} execution steps (a fixed limit); loop over less",
                    crate::MAX_STEPS
                ),
            ));
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, nodes: &'t [Node]) -> Result<Flow, RawError> {
        for node in nodes {
            self.charge(node_pos(node), 1)?;
            let flow = match node {
                Node::Text { start, end, line } => {
                    self.out
                        .emit(&self.tmpl.source[*start..*end], *line, true, *start)?;
                    Flow::Normal
                }
                Node::Action { line, pipe } => {
                    let v = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let v = self.resolve(v);
                        self.out.emit(&v.to_output(), *line, false, pipe.pos)?;
                    }
                    Flow::Normal
                }
                Node::If(c) => self.if_or_with(dot, c, false)?,
                Node::With(c) => self.if_or_with(dot, c, true)?,
                Node::Range(c) => self.range(dot, c)?,
                Node::Template { pos, name, pipe } => {
                    self.template(dot, *pos, name, pipe.as_ref())?;
                    Flow::Normal
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn if_or_with(&mut self, dot: &Value, c: &'t Control, is_with: bool) -> Result<Flow, RawError> {
        self.enter(c.pipe.pos)?;
        let flow = self.if_or_with_body(dot, c, is_with);
        self.depth -= 1;
        flow
    }

    /// One level deeper for a block's body; templates calling themselves hit this bound.
    fn enter(&mut self, pos: usize) -> Result<(), RawError> {
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(RawError::new(
                pos,
                format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn if_or_with_body(
        &mut self,
        dot: &Value,
        c: &'t Control,
        is_with: bool,
    ) -> Result<Flow, RawError> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &c.pipe)?;
        let flow = if self.truth(&v) {
            let body_dot = if is_with { &v } else { dot };
            self.walk(body_dot, &c.body)?
        } else if let Some(else_body) = &c.else_body {
            self.walk(dot, else_body)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn range(&mut self, dot: &Value, c: &'t Control) -> Result<Flow, RawError> {
        self.enter(c.pipe.pos)?;
        let flow = self.range_body(dot, c);
        self.depth -= 1;
        flow
    }

    /// Long by design: Go's `range` over lists, maps and integers with `else`, `break` and `continue`.
    fn range_body(&mut self, dot: &Value, c: &'t Control) -> Result<Flow, RawError> {
        let outer = self.vars.len();
        let v = self.pipeline(dot, &c.pipe)?;
        let v = self.resolve(v);
        let mark = self.vars.len();
        let decl = &c.pipe.decl;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(k, e)| (Value::Int(k as i64), e.clone()))
                .collect(),
            Value::Map(map) => map
                .iter()
                .map(|(k, e)| (Value::str(k.clone()), e.clone()))
                .collect(),
            Value::Int(n) => {
                if decl.len() > 1 {
                    return Err(RawError::new(
                        c.pipe.pos,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                if *n > crate::MAX_LIST_LENGTH as i64 {
                    return Err(RawError::new(
                        c.pipe.pos,
                        format!(
                            "range over {n}: at most {} iterations (a fixed limit)",
                            crate::MAX_LIST_LENGTH
                        ),
                    ));
                }
                (0..*n).map(|k| (Value::Int(k), Value::Int(k))).collect()
            }
            Value::Missing => Vec::new(),
            other => {
                return Err(RawError::new(
                    c.pipe.pos,
                    format!("range can't iterate over {}", other.sprint()),
                ))
            }
        };
        for (index, elem) in &items {
            self.charge(c.pipe.pos, 1)?;
            // With one variable it gets the element; with two, the first gets the index/key.
            match decl.len() {
                1 => self.set_decl(&decl[0], elem.clone(), c.pipe.assign, mark, 1),
                2 => {
                    self.set_decl(&decl[0], index.clone(), c.pipe.assign, mark, 2);
                    self.set_decl(&decl[1], elem.clone(), c.pipe.assign, mark, 1);
                }
                _ => {}
            }
            let flow = self.walk(elem, &c.body)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        let flow = match (&c.else_body, items.is_empty()) {
            (Some(else_body), true) => self.walk(dot, else_body)?,
            _ => Flow::Normal,
        };
        self.vars.truncate(outer);
        Ok(flow)
    }

    /// Sets a range variable: declared ones are the `from_top`-th pushed below `mark`.
    fn set_decl(&mut self, name: &'t str, v: Value, assign: bool, mark: usize, from_top: usize) {
        if assign {
            self.set_var(name, v);
        } else if let Some(slot) = mark
            .checked_sub(from_top)
            .and_then(|k| self.vars.get_mut(k))
        {
            slot.1 = v;
        }
    }

    fn set_var(&mut self, name: &str, v: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            slot.1 = v;
        }
    }

    fn template(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &str,
        pipe: Option<&'t Pipe>,
    ) -> Result<(), RawError> {
        let Some(body) = self.tmpl.defines.get(name) else {
            return Err(RawError::new(pos, format!("no such template {name:?}")));
        };
        let new_dot = match pipe {
            Some(p) => self.pipeline(dot, p)?,
            None => Value::Missing,
        };
        self.enter(pos)?;
        let saved = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        let result = self.walk(&new_dot, body);
        self.vars = saved;
        self.depth -= 1;
        result.map(|_| ())
    }

    fn pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> Result<Value, RawError> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.assign {
                self.set_var(name, value.clone());
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    /// Long by design: one arm per kind of command head (function, field, variable, value), as Go evaluates them.
    fn command(
        &mut self,
        dot: &Value,
        cmd: &'t Cmd,
        last: Option<Value>,
    ) -> Result<Value, RawError> {
        let Some(first) = cmd.args.first() else {
            return Err(RawError::new(cmd.pos, "empty command"));
        };
        let has_args = cmd.args.len() > 1 || last.is_some();
        let not_a_function = |what: String| -> Result<(), RawError> {
            if has_args {
                Err(RawError::new(
                    first.pos(),
                    format!("can't give argument to non-function {what}"),
                ))
            } else {
                Ok(())
            }
        };
        match first {
            Arg::Func { pos, func, path } if path.is_empty() => {
                self.call(dot, func, *pos, &cmd.args[1..], last)
            }
            Arg::Field { pos, path } => self.field_chain(dot.clone(), path, *pos, has_args),
            Arg::Variable { pos, name, path } => {
                if path.is_empty() {
                    not_a_function(name.clone())?;
                }
                let v = self.var(name, *pos)?;
                self.field_chain(v, path, *pos, has_args)
            }
            Arg::Func { pos, func, path } => {
                let v = self.call(dot, func, *pos, &[], None)?;
                self.field_chain(v, path, *pos, has_args)
            }
            Arg::Pipe { pos, pipe, path } => {
                if path.is_empty() {
                    not_a_function("(parenthesized pipeline)".into())?;
                }
                let v = self.pipeline(dot, pipe)?;
                self.field_chain(v, path, *pos, has_args)
            }
            Arg::Nil(pos) => Err(RawError::new(*pos, "nil is not a command")),
            Arg::Dot(_) => {
                not_a_function(".".into())?;
                Ok(dot.clone())
            }
            Arg::Bool(_, b) => {
                not_a_function(b.to_string())?;
                Ok(Value::Bool(*b))
            }
            Arg::Str(_, s) => {
                not_a_function(format!("{s:?}"))?;
                Ok(Value::str(s.clone()))
            }
            Arg::Number(pos, n) => {
                not_a_function(n.text.clone())?;
                ideal_number(n, *pos)
            }
        }
    }

    fn var(&self, name: &str, pos: usize) -> Result<Value, RawError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| RawError::new(pos, format!("undefined variable: {name}")))
    }

    /// `.A.B.C` on `receiver`; only the last segment may see arguments (which maps reject).
    fn field_chain(
        &mut self,
        mut receiver: Value,
        path: &[String],
        pos: usize,
        has_args: bool,
    ) -> Result<Value, RawError> {
        for (k, name) in path.iter().enumerate() {
            receiver = match &receiver {
                Value::Map(_) | Value::Root if has_args && k + 1 == path.len() => {
                    return Err(RawError::new(
                        pos,
                        format!("{name} is not a method but has arguments"),
                    ));
                }
                Value::Map(map) => match map.get(name) {
                    Some(v) => v.clone(),
                    None => {
                        self.missing.insert((pos, name.clone()));
                        Value::Missing
                    }
                },
                Value::Root => match self.data.get_key_value(name.as_str()) {
                    // Copied once per key: a loop reading a long variable shares that copy.
                    Some((key, v)) => self
                        .root_values
                        .entry(key.as_str())
                        .or_insert_with(|| Value::str(v.clone()))
                        .clone(),
                    None => {
                        self.missing.insert((pos, name.clone()));
                        Value::Missing
                    }
                },
                Value::Missing => Value::Missing,
                other => {
                    return Err(RawError::new(
                        pos,
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(receiver)
    }

    /// Long by design: Go's argument checks (count, variadic, types) before the call, in Go's order.
    fn call(
        &mut self,
        dot: &Value,
        func: &'static Func,
        pos: usize,
        args: &'t [Arg],
        last: Option<Value>,
    ) -> Result<Value, RawError> {
        self.charge(pos, 1)?;
        let given = args.len() + usize::from(last.is_some());
        let fixed = func.params.len();
        if func.variadic.is_some() && given < fixed {
            return Err(RawError::new(
                pos,
                format!(
                    "wrong number of args for {}: want at least {fixed} got {given}",
                    func.name
                ),
            ));
        }
        if func.variadic.is_none() && given != fixed {
            return Err(RawError::new(
                pos,
                format!(
                    "wrong number of args for {}: want {fixed} got {given}",
                    func.name
                ),
            ));
        }
        let param = |k: usize| {
            func.params
                .get(k)
                .copied()
                .or(func.variadic)
                .unwrap_or(Param::Any)
        };
        match func.kind {
            Kind::And | Kind::Or => {
                // Short-circuit: stop at the first value that decides, and return that value.
                let stop_on = matches!(func.kind, Kind::Or);
                let mut v = Value::Missing;
                for a in args {
                    v = self.arg(dot, a, Param::Any)?;
                    if self.truth(&v) == stop_on {
                        return Ok(v);
                    }
                }
                Ok(self.resolve(last.unwrap_or(v)))
            }
            Kind::Call(imp) => {
                let mut values = Vec::with_capacity(given);
                for (k, a) in args.iter().enumerate() {
                    values.push(self.arg(dot, a, param(k))?);
                }
                if let Some(v) = last {
                    let v = self.resolve(v);
                    values.push(validate(v, param(args.len()), pos)?);
                }
                self.charge(pos, call_cost(func, &values))?;
                let result = imp(&values)
                    .map_err(|e| RawError::new(pos, format!("error calling {}: {e}", func.name)))?;
                // What a call builds costs like what it reads: `until`, `splitList` and `repeat`
                // take tiny arguments and return large values.
                self.charge(pos, value_cost(&result))?;
                Ok(result)
            }
        }
    }

    /// Evaluates an argument for a parameter of type `ty`, converting literals as Go does.
    fn arg(&mut self, dot: &Value, a: &'t Arg, ty: Param) -> Result<Value, RawError> {
        let v = self.arg_unresolved(dot, a, ty)?;
        Ok(self.resolve(v))
    }

    fn arg_unresolved(&mut self, dot: &Value, a: &'t Arg, ty: Param) -> Result<Value, RawError> {
        let found = |what: String, pos: usize| {
            let expected = match ty {
                Param::Int => "integer",
                other => other.go_name(),
            };
            Err(RawError::new(
                pos,
                format!("expected {expected}; found {what}"),
            ))
        };
        match a {
            Arg::Dot(pos) => validate(dot.clone(), ty, *pos),
            Arg::Nil(pos) => match ty {
                Param::Any => Ok(Value::Missing),
                other => Err(RawError::new(
                    *pos,
                    format!("cannot assign nil to {}", other.go_name()),
                )),
            },
            Arg::Field { pos, path } => {
                let v = self.field_chain(dot.clone(), path, *pos, false)?;
                validate(v, ty, *pos)
            }
            Arg::Variable { pos, name, path } => {
                let v = self.var(name, *pos)?;
                let v = self.field_chain(v, path, *pos, false)?;
                validate(v, ty, *pos)
            }
            Arg::Func { pos, func, path } => {
                let v = self.call(dot, func, *pos, &[], None)?;
                let v = self.field_chain(v, path, *pos, false)?;
                validate(v, ty, *pos)
            }
            Arg::Pipe { pos, pipe, path } => {
                let v = self.pipeline(dot, pipe)?;
                let v = self.field_chain(v, path, *pos, false)?;
                validate(v, ty, *pos)
            }
            Arg::Bool(pos, b) => match ty {
                Param::Any | Param::Bool => Ok(Value::Bool(*b)),
                _ => found(b.to_string(), *pos),
            },
            Arg::Str(pos, s) => match ty {
                Param::Any | Param::Str => Ok(Value::str(s.clone())),
                _ => found(format!("{s:?}"), *pos),
            },
            Arg::Number(pos, n) => match ty {
                Param::Any => ideal_number(n, *pos),
                Param::Int => match n.int {
                    Some(i) => Ok(Value::Int(i)),
                    None => found(n.text.clone(), *pos),
                },
                _ => found(n.text.clone(), *pos),
            },
        }
    }
}

/// Steps a function call costs beyond the call itself: the work over long lists and strings
/// (quadratic for `uniq`, which compares every pair).
fn call_cost(func: &Func, values: &[Value]) -> u64 {
    values
        .iter()
        .map(|v| match v {
            Value::List(items) if func.name == "uniq" => {
                (items.len() as u64).saturating_pow(2) / 64
            }
            other => value_cost(other),
        })
        .fold(0, u64::saturating_add)
}

/// Steps charged for handling `v` in a function call: one per list item or map entry, one per
/// [`STR_BYTES_PER_STEP`] bytes of a string.
fn value_cost(v: &Value) -> u64 {
    match v {
        Value::List(items) => items.len() as u64,
        Value::Map(map) => map.len() as u64,
        Value::Str(s) => (s.len() / STR_BYTES_PER_STEP) as u64,
        _ => 0,
    }
}

/// Where a node starts, for errors about it.
fn node_pos(node: &Node) -> usize {
    match node {
        Node::Text { start, .. } => *start,
        Node::Action { pipe, .. } => pipe.pos,
        Node::If(c) | Node::With(c) | Node::Range(c) => c.pipe.pos,
        Node::Template { pos, .. } => *pos,
        Node::Break | Node::Continue => 0,
    }
}

/// An untyped number constant given to an `interface{}` parameter: int unless written as a float.
fn ideal_number(n: &crate::lex::Number, pos: usize) -> Result<Value, RawError> {
    if n.float_syntax {
        return n
            .float
            .map(Value::Float)
            .ok_or_else(|| RawError::new(pos, format!("bad number {}", n.text)));
    }
    n.int
        .map(Value::Int)
        .ok_or_else(|| RawError::new(pos, format!("{} overflows int", n.text)))
}

/// Go's `validateType` for computed values.
fn validate(v: Value, ty: Param, pos: usize) -> Result<Value, RawError> {
    let ok = match (&v, ty) {
        (_, Param::Any) => true,
        (Value::Missing, other) => {
            return Err(RawError::new(
                pos,
                format!("invalid value; expected {}", other.go_name()),
            ));
        }
        (Value::Str(_), Param::Str)
        | (Value::Int(_), Param::Int)
        | (Value::Bool(_), Param::Bool) => true,
        _ => false,
    };
    if ok {
        Ok(v)
    } else {
        Err(RawError::new(
            pos,
            format!(
                "wrong type for value; expected {}; got {}",
                ty.go_name(),
                v.type_name()
            ),
        ))
    }
}
