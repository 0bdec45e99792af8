//! Parser: tokens -> tree. Checks at parse time what Go checks at parse time: unknown functions,
//! undefined variables, `break`/`continue` outside `range`, unbalanced `end`/`else`.

use std::collections::HashMap;

use crate::error::RawError;
use crate::funcs::{self, Func};
use crate::lex::{Keyword, Number, Tok, Token};

#[derive(Debug)]
pub(crate) enum Node {
    /// Literal text `source[start..end]`, starting on source line `line`.
    Text {
        start: usize,
        end: usize,
        line: usize,
    },
    /// `{{ pipeline }}`; prints the value unless the pipeline declares or assigns a variable.
    Action {
        line: usize,
        pipe: Pipe,
    },
    If(Control),
    Range(Control),
    With(Control),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug)]
pub(crate) struct Control {
    pub pipe: Pipe,
    pub body: Vec<Node>,
    pub else_body: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    /// `$x = ...` assigns an existing variable; otherwise `decl` declares new ones.
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug)]
pub(crate) enum Arg {
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Str(usize, String),
    Number(usize, Number),
    /// `.A.B` on dot.
    Field {
        pos: usize,
        path: Vec<String>,
    },
    /// `$x.A.B`.
    Variable {
        pos: usize,
        name: String,
        path: Vec<String>,
    },
    /// A function name; `path` is non-empty only for a chained call result like `fn.Field`.
    Func {
        pos: usize,
        func: &'static Func,
        path: Vec<String>,
    },
    /// `( pipeline ).A.B`.
    Pipe {
        pos: usize,
        pipe: Box<Pipe>,
        path: Vec<String>,
    },
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Dot(p) | Arg::Nil(p) | Arg::Bool(p, _) | Arg::Str(p, _) | Arg::Number(p, _) => *p,
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Func { pos, .. }
            | Arg::Pipe { pos, .. } => *pos,
        }
    }

    fn is_literal(&self) -> bool {
        matches!(
            self,
            Arg::Dot(_) | Arg::Nil(_) | Arg::Bool(..) | Arg::Str(..) | Arg::Number(..)
        )
    }
}

/// Why a list of nodes stopped.
enum Stop {
    Eof,
    End(usize),
    /// `{{else}}` (None) or `{{else if ...}}` / `{{else with ...}}`; the token index is just after `else`.
    Else(usize, Option<Keyword>),
}

pub(crate) struct Parsed {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

struct Parser<'a> {
    src: &'a str,
    toks: &'a [Token],
    i: usize,
    lines: &'a crate::error::LineIndex,
    vars: Vec<String>,
    range_depth: usize,
    /// Open blocks and parentheses, bounded by [`crate::MAX_NESTING`].
    nesting: usize,
    defines: HashMap<String, Vec<Node>>,
}

pub(crate) fn parse(
    src: &str,
    toks: &[Token],
    lines: &crate::error::LineIndex,
) -> Result<Parsed, RawError> {
    let mut p = Parser {
        src,
        toks,
        i: 0,
        lines,
        vars: vec!["$".to_string()],
        range_depth: 0,
        nesting: 0,
        defines: HashMap::new(),
    };
    let (root, stop) = p.list(true)?;
    match stop {
        Stop::Eof => Ok(Parsed {
            root,
            defines: p.defines,
        }),
        Stop::End(pos) => Err(RawError::new(
            pos,
            "unexpected {{end}} (no {{if}}, {{range}}, {{with}} or {{define}} to close)",
        )),
        Stop::Else(_, _) => Err(RawError::new(
            p.toks[p.i.saturating_sub(1)].start,
            "unexpected {{else}} outside {{if}}, {{range}} or {{with}}",
        )),
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Text => "text".into(),
        Tok::LeftDelim => "\"{{\"".into(),
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Keyword(k) => format!("<{}>", k.name()),
        Tok::Field(f) => format!("\".{f}\""),
        Tok::Variable(v) => format!("{v:?}"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Number(n) => n.text.clone(),
        Tok::Bool(b) => b.to_string(),
        Tok::Nil => "nil".into(),
        Tok::Dot => "\".\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Eof => "end of template".into(),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &'a Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &'a Token {
        &self.toks[(self.i + n).min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> &'a Token {
        let t = self.peek();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn expect_right_delim(&mut self, what: &str) -> Result<(), RawError> {
        let t = self.next();
        if t.tok == Tok::RightDelim {
            Ok(())
        } else {
            Err(RawError::new(
                t.start,
                format!("unexpected {} in {what}", describe(&t.tok)),
            ))
        }
    }

    /// Parses nodes until EOF, `{{end}}` or `{{else}}`.
    /// Long by design: one arm per action keyword, as Go's parser switches on them.
    fn list(&mut self, top_level: bool) -> Result<(Vec<Node>, Stop), RawError> {
        let mut nodes = Vec::new();
        loop {
            let t = self.next();
            match &t.tok {
                Tok::Eof => return Ok((nodes, Stop::Eof)),
                Tok::Text => nodes.push(Node::Text {
                    start: t.start,
                    end: t.end,
                    line: self.lines.line(t.start),
                }),
                Tok::LeftDelim => {
                    let open = t.start;
                    let kw = self.peek();
                    match kw.tok {
                        Tok::Keyword(Keyword::End) => {
                            self.i += 1;
                            self.expect_right_delim("{{end}}")?;
                            return Ok((nodes, Stop::End(open)));
                        }
                        Tok::Keyword(Keyword::Else) => {
                            self.i += 1;
                            let chained = match self.peek().tok {
                                Tok::Keyword(k @ (Keyword::If | Keyword::With)) => Some(k),
                                _ => None,
                            };
                            if chained.is_none() {
                                self.expect_right_delim("{{else}}")?;
                            }
                            return Ok((nodes, Stop::Else(open, chained)));
                        }
                        Tok::Keyword(k @ (Keyword::If | Keyword::Range | Keyword::With)) => {
                            self.i += 1;
                            nodes.push(self.nested(open, |p| p.control(k, open))?);
                        }
                        Tok::Keyword(Keyword::Break | Keyword::Continue) => {
                            self.i += 1;
                            let is_break = kw.tok == Tok::Keyword(Keyword::Break);
                            let name = if is_break { "break" } else { "continue" };
                            if self.range_depth == 0 {
                                return Err(RawError::new(
                                    kw.start,
                                    format!("{{{{{name}}}}} outside {{{{range}}}}"),
                                ));
                            }
                            self.expect_right_delim(&format!("{{{{{name}}}}}"))?;
                            nodes.push(if is_break {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        Tok::Keyword(Keyword::Template) => {
                            self.i += 1;
                            let (name, pipe) = self.template_invocation("template")?;
                            nodes.push(Node::Template {
                                pos: open,
                                name,
                                pipe,
                            });
                        }
                        Tok::Keyword(Keyword::Block) => {
                            self.i += 1;
                            let (name, pipe) = self.template_invocation("block")?;
                            let body = self.define_body(open, "block")?;
                            self.defines.insert(name.clone(), body);
                            nodes.push(Node::Template {
                                pos: open,
                                name,
                                pipe,
                            });
                        }
                        Tok::Keyword(Keyword::Define) => {
                            if !top_level {
                                return Err(RawError::new(
                                    kw.start,
                                    "{{define}} is only allowed at the top level",
                                ));
                            }
                            self.i += 1;
                            let name = self.template_name("define")?;
                            self.expect_right_delim("{{define}}")?;
                            let body = self.define_body(open, "define")?;
                            self.defines.insert(name, body);
                        }
                        _ => {
                            let pipe = self.pipeline("command", false, &Tok::RightDelim)?;
                            nodes.push(Node::Action {
                                line: self.lines.line(open),
                                pipe,
                            });
                        }
                    }
                }
                other => {
                    return Err(RawError::new(
                        t.start,
                        format!("unexpected {}", describe(other)),
                    ))
                }
            }
        }
    }

    fn template_name(&mut self, what: &str) -> Result<String, RawError> {
        let t = self.next();
        match &t.tok {
            Tok::Str(s) => Ok(s.clone()),
            other => Err(RawError::new(
                t.start,
                format!(
                    "expected a quoted template name in {{{{{what}}}}}, found {}",
                    describe(other)
                ),
            )),
        }
    }

    fn template_invocation(&mut self, what: &str) -> Result<(String, Option<Pipe>), RawError> {
        let name = self.template_name(what)?;
        if self.peek().tok == Tok::RightDelim {
            self.i += 1;
            return Ok((name, None));
        }
        let pipe = self.pipeline(what, false, &Tok::RightDelim)?;
        Ok((name, Some(pipe)))
    }

    /// Body of `define`/`block`: its own variable scope (only `$`), ended by `{{end}}`.
    fn define_body(&mut self, open: usize, what: &str) -> Result<Vec<Node>, RawError> {
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let (body, stop) = self.nested(open, |p| p.list(false))?;
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        match stop {
            Stop::End(_) => Ok(body),
            Stop::Else(pos, _) => Err(RawError::new(
                pos,
                format!("unexpected {{{{else}}}} in {{{{{what}}}}}"),
            )),
            Stop::Eof => Err(RawError::new(
                open,
                format!("missing {{{{end}}}} for this {{{{{what}}}}}"),
            )),
        }
    }

    /// Runs `f` one nesting level deeper, refusing to go past [`crate::MAX_NESTING`].
    fn nested<T>(
        &mut self,
        pos: usize,
        f: impl FnOnce(&mut Self) -> Result<T, RawError>,
    ) -> Result<T, RawError> {
        if self.nesting >= crate::MAX_NESTING {
            return Err(RawError::new(
                pos,
                format!(
                    "blocks and parentheses are nested more than {} deep (a fixed limit); flatten the template",
                    crate::MAX_NESTING
                ),
            ));
        }
        self.nesting += 1;
        let result = f(self);
        self.nesting -= 1;
        result
    }

    /// `if` / `range` / `with` after its keyword; `open` is the `{{` position.
    fn control(&mut self, kw: Keyword, open: usize) -> Result<Node, RawError> {
        // Variables declared in the pipeline are visible in both branches, and gone after `{{end}}`.
        let mark = self.vars.len();
        let pipe = self.pipeline(kw.name(), kw == Keyword::Range, &Tok::RightDelim)?;
        if kw == Keyword::Range {
            self.range_depth += 1;
        }
        let listed = self.list(false);
        if kw == Keyword::Range {
            self.range_depth -= 1;
        }
        let (body, stop) = listed?;
        let missing_end = || {
            RawError::new(
                open,
                format!("missing {{{{end}}}} for this {{{{{}}}}}", kw.name()),
            )
        };
        let else_body = match stop {
            Stop::End(_) => None,
            Stop::Eof => return Err(missing_end()),
            // `{{else if ...}}` is an `{{else}}` holding a nested `{{if}}` that shares this `{{end}}`.
            Stop::Else(else_pos, Some(chained)) => {
                self.i += 1; // the `if`/`with` keyword after `else`
                Some(vec![
                    self.nested(else_pos, |p| p.control(chained, else_pos))?
                ])
            }
            Stop::Else(else_pos, None) => {
                let (else_body, stop) = self.list(false)?;
                match stop {
                    Stop::End(_) => Some(else_body),
                    Stop::Else(pos, _) => {
                        let first = self.describe_pos(else_pos);
                        return Err(RawError::new(
                            pos,
                            format!(
                                "second {{{{else}}}} in this {{{{{}}}}} (the first is at {first})",
                                kw.name()
                            ),
                        ));
                    }
                    Stop::Eof => return Err(missing_end()),
                }
            }
        };
        self.vars.truncate(mark);
        let control = Control {
            pipe,
            body,
            else_body,
        };
        Ok(match kw {
            Keyword::If => Node::If(control),
            Keyword::Range => Node::Range(control),
            _ => Node::With(control),
        })
    }

    fn describe_pos(&self, pos: usize) -> String {
        let (line, col) = self.lines.line_col(self.src, pos);
        format!("{line}:{col}")
    }

    /// A pipeline up to `end` (`}}` or `)`), with optional variable declarations in front.
    /// Long by design: the pipeline grammar (declarations, commands, `|`) follows Go's parser step by step.
    fn pipeline(&mut self, context: &str, multi_decl: bool, end: &Tok) -> Result<Pipe, RawError> {
        let pos = self.peek().start;
        let mut decl = Vec::new();
        let mut assign = false;
        if let Tok::Variable(first) = &self.peek().tok {
            let after = &self.peek_at(1).tok;
            let two = matches!(after, Tok::Comma)
                && matches!(self.peek_at(2).tok, Tok::Variable(_))
                && matches!(self.peek_at(3).tok, Tok::Declare | Tok::Assign);
            if matches!(after, Tok::Declare | Tok::Assign) || two {
                if two && !multi_decl {
                    return Err(RawError::new(
                        self.peek().start,
                        format!("too many declarations in {context}"),
                    ));
                }
                decl.push(first.clone());
                self.i += 1;
                if two {
                    self.i += 1;
                    if let Tok::Variable(second) = &self.next().tok {
                        decl.push(second.clone());
                    }
                }
                let op = self.next();
                assign = op.tok == Tok::Assign;
                for name in &decl {
                    if assign {
                        if !self.vars.contains(name) {
                            return Err(RawError::new(pos, format!("undefined variable {name:?}")));
                        }
                    } else {
                        self.vars.push(name.clone());
                    }
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let t = self.peek();
            if &t.tok == end {
                self.i += 1;
                break;
            }
            match &t.tok {
                Tok::RightDelim => return Err(RawError::new(t.start, "unclosed left paren")),
                Tok::RParen => return Err(RawError::new(t.start, "unexpected right paren")),
                Tok::Pipe if cmds.is_empty() => {
                    return Err(RawError::new(
                        t.start,
                        format!("missing value before \"|\" in {context}"),
                    ));
                }
                Tok::Pipe => {
                    self.i += 1;
                    let next = self.peek();
                    if next.tok == *end || matches!(next.tok, Tok::Pipe) {
                        return Err(RawError::new(
                            t.start,
                            format!("missing command after \"|\" in {context}"),
                        ));
                    }
                }
                _ => {}
            }
            if &self.peek().tok == end {
                continue;
            }
            cmds.push(self.command()?);
        }
        if cmds.is_empty() {
            return Err(RawError::new(pos, format!("missing value for {context}")));
        }
        for (stage, cmd) in cmds.iter().enumerate().skip(1) {
            if cmd.args.first().is_some_and(Arg::is_literal) {
                return Err(RawError::new(
                    cmd.pos,
                    format!("non executable command in pipeline stage {} (a literal cannot take the piped value)", stage + 1),
                ));
            }
        }
        Ok(Pipe {
            pos,
            decl,
            assign,
            cmds,
        })
    }

    fn command(&mut self) -> Result<Cmd, RawError> {
        let pos = self.peek().start;
        let mut args = Vec::new();
        loop {
            match self.peek().tok {
                Tok::RightDelim | Tok::RParen | Tok::Pipe => break,
                _ => args.push(self.operand()?),
            }
        }
        Ok(Cmd { pos, args })
    }

    /// A term plus the `.Field` segments that touch it.
    /// Long by design: one arm per term token, then the field chain, as in Go's parser.
    fn operand(&mut self) -> Result<Arg, RawError> {
        let t = self.next();
        let pos = t.start;
        let mut arg = match &t.tok {
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Bool(b) => Arg::Bool(pos, *b),
            Tok::Str(s) => Arg::Str(pos, s.clone()),
            Tok::Number(n) => Arg::Number(pos, n.clone()),
            Tok::Field(f) => Arg::Field {
                pos,
                path: vec![f.clone()],
            },
            Tok::Variable(name) => {
                if !self.vars.contains(name) {
                    return Err(RawError::new(pos, format!("undefined variable {name:?}")));
                }
                Arg::Variable {
                    pos,
                    name: name.clone(),
                    path: Vec::new(),
                }
            }
            Tok::Ident(name) => match funcs::lookup(name) {
                Some(func) => Arg::Func {
                    pos,
                    func,
                    path: Vec::new(),
                },
                None => return Err(RawError::new(pos, format!("function {name:?} not defined"))),
            },
            Tok::LParen => {
                let pipe = self.nested(pos, |p| {
                    p.pipeline("parenthesized pipeline", false, &Tok::RParen)
                })?;
                Arg::Pipe {
                    pos,
                    pipe: Box::new(pipe),
                    path: Vec::new(),
                }
            }
            other => {
                return Err(RawError::new(
                    pos,
                    format!("unexpected {} in operand", describe(other)),
                ))
            }
        };
        // The term ends at the last token it consumed (for `( ... )` that is the closing paren).
        let mut end = self.toks[self.i - 1].end;
        while let Tok::Field(f) = &self.peek().tok {
            let field_tok = self.peek();
            if field_tok.start != end {
                break;
            }
            match &mut arg {
                Arg::Field { path, .. }
                | Arg::Variable { path, .. }
                | Arg::Func { path, .. }
                | Arg::Pipe { path, .. } => path.push(f.clone()),
                _ => {
                    return Err(RawError::new(
                        field_tok.start,
                        format!("unexpected .{f} after a literal"),
                    ))
                }
            }
            end = field_tok.end;
            self.i += 1;
        }
        Ok(arg)
    }
}
