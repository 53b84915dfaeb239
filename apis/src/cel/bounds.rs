//! Bounds on an expression's source, checked before anything parses it.
//!
//! cel-rust's parser, the checker, the evaluator and the drop of the syntax
//! tree all recurse once or more per level of nesting. A rule is written by
//! whoever may create a CRD or an APIResourceSchema in a workspace, and it
//! is compiled at admission, at start-up and evaluated on every write of
//! its custom resources, on tokio worker threads whose stacks are 2 MiB: a
//! deep enough expression would overflow one and abort the whole server.
//!
//! So, as cel-go does, and with its messages:
//!
//! - at most [`MAX_CODE_POINTS`] code points
//!   (`expression code point size exceeds limit: size: N, limit 100000`);
//! - the nesting of grammar rules, counted per rule as cel-go's ANTLR parse
//!   listener does (brackets, calls, ternary `else` branches, the right
//!   operand of a relation or an arithmetic operator), at most
//!   [`MAX_RULE_DEPTH`] (`expression recursion limit exceeded: N`);
//! - the depth of selects, indexes, member calls, relations, arithmetic and
//!   ternaries along any path of the tree, at most [`MAX_VISITOR_DEPTH`]
//!   (`max recursion depth exceeded`), as cel-go's parse visitor counts it.
//!   `&&`/`||` chains do not count: both parsers build them as balanced
//!   trees. Runs of `!` or `-` do not either: both keep at most one.
//!
//! cel-go's rule-nesting limit is 250, but cel-rust's recursive descent
//! uses about 8 KiB of stack per nesting level (nested list literals, the
//! worst shape, in a release build), so 250 levels would need 2 MiB by
//! themselves; the limit here is lowered to [`MAX_RULE_DEPTH`] levels, the
//! message naming it. The other two limits are cel-go's.
//!
//! The scan is iterative: its own stack is a `Vec`. It lexes with
//! [`super::tokens`] and recognizes the CEL grammar with an explicit stack,
//! computing both counts exactly as cel-go would on any input cel-go parses
//! without a syntax error. On anything else (a lexical or syntax error),
//! ANTLR's error recovery may build a different tree, so the scan falls
//! back to a bound no recovery can exceed: every character that could be
//! an operator, plus the recovery attempts cel-rust allows. cel-rust's own
//! nesting counter, set to the same limit, then bounds the brackets of such
//! broken input while the parser reports its syntax errors.

use super::tokens::{Tok, tokenize};
use thiserror::Error;

/// cel-go's `expressionSizeCodePointLimit`.
pub(crate) const MAX_CODE_POINTS: usize = 100_000;

/// cel-go's `maxRecursionDepth`, as its parse visitor applies it.
pub(crate) const MAX_VISITOR_DEPTH: u32 = 250;

/// The rule-nesting limit (cel-go: 250), lowered so that the deepest
/// accepted expression parses within a fraction of a 2 MiB stack.
pub(crate) const MAX_RULE_DEPTH: u32 = 100;

/// cel-rust's `error_recovery_limit`: each recovery may conjure one token.
const RECOVERY_ATTEMPTS: u32 = 30;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub(crate) enum BoundError {
    #[error("expression code point size exceeds limit: size: {size}, limit {limit}")]
    Size { size: usize, limit: usize },
    #[error("expression recursion limit exceeded: {0}")]
    RuleDepth(u32),
    #[error("max recursion depth exceeded")]
    VisitorDepth,
}

/// Checks `src` against the three limits.
pub(crate) fn check(src: &str) -> Result<(), BoundError> {
    // Counting code points is only needed when the bytes could exceed it.
    if src.len() > MAX_CODE_POINTS {
        let size = src.chars().count();
        if size > MAX_CODE_POINTS {
            return Err(BoundError::Size {
                size,
                limit: MAX_CODE_POINTS,
            });
        }
    }
    let depths = match tokenize(src).ok().and_then(|toks| Scan::new(&toks).run()) {
        Some(scanned) => scanned?,
        None => pessimistic(src),
    };
    if depths.rule > MAX_RULE_DEPTH {
        return Err(BoundError::RuleDepth(MAX_RULE_DEPTH));
    }
    if depths.visitor > MAX_VISITOR_DEPTH {
        return Err(BoundError::VisitorDepth);
    }
    Ok(())
}

/// The deepest rule nesting and visitor depth of a parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Depths {
    rule: u32,
    visitor: u32,
}

/// A bound on both depths for input the grammar does not accept: no tree
/// ANTLR recovers can chain more operators than the input has operator
/// characters (plus conjured tokens); nesting is left to cel-rust's own
/// counter, set to the same limit.
fn pessimistic(src: &str) -> Depths {
    let ops =
        src.bytes().filter(|c| b".[+-*/%<>=!?".contains(c)).count() + src.matches("in").count();
    Depths {
        rule: 0,
        visitor: u32::try_from(ops)
            .unwrap_or(u32::MAX)
            .saturating_add(RECOVERY_ATTEMPTS),
    }
}

// Indexes of the grammar rules whose nesting cel-go's listener counts and
// that can nest: the others (`listInit`, `exprList`, `literal`…) never go
// deeper than one of these.
const EXPR: usize = 0;
const REL: usize = 3;
const CALC: usize = 4;
const PRIMARY: usize = 7;
const RULES: usize = 8;

type Counts = [u32; RULES];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Or,
    And,
    Rel,
    Add,
    Mul,
    /// `c ? t` waiting for `:`.
    Then,
    /// `c ? t :` whose else branch is the level above.
    Else,
}

impl Op {
    fn precedence(self) -> u8 {
        match self {
            Op::Then | Op::Else => 0,
            Op::Or => 1,
            Op::And => 2,
            Op::Rel => 3,
            Op::Add => 4,
            Op::Mul => 5,
        }
    }
}

/// What opened an `expr` level, and so what closes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Top,
    Paren,
    List,
    /// Map literal entries; `value` tells which side of `:` is being read.
    Map {
        value: bool,
    },
    /// Message literal field values.
    Message,
    /// Call arguments; `receiver` is the visitor depth of a member call's
    /// operand, `None` for a global call.
    Call {
        receiver: Option<u32>,
    },
    /// `operand[index]`.
    Index {
        operand: u32,
    },
    /// A ternary's else branch: no token closes it, the enclosing level's
    /// end does.
    Else,
}

#[derive(Debug)]
struct Level {
    kind: Kind,
    /// Rule counts of the frames enclosing this level.
    base: Counts,
    ops: Vec<Op>,
    /// Visitor depths of the operands not yet reduced.
    vals: Vec<u32>,
    /// The deepest of the finished items (elements, arguments, entries).
    items: u32,
}

/// What the next token may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The start of an expression (a unary operator or a member).
    Operand,
    /// After a member: a postfix, a binary operator or a terminator.
    Postfix,
    /// After `[` of a list literal, or one of its `,`.
    ListItem,
    /// After `{` of a map literal, or one of its `,`.
    MapKey,
    /// After `{` of a message literal, or one of its `,`.
    Field,
    /// After `(` of a call.
    Args,
}

struct Scan<'t> {
    toks: &'t [Tok],
    at: usize,
    levels: Vec<Level>,
    depths: Depths,
    /// The rule nesting at which the scan stops.
    limit: u32,
}

/// `None`: the grammar does not accept the input.
type Step<T> = Option<T>;

impl<'t> Scan<'t> {
    fn new(toks: &'t [Tok]) -> Scan<'t> {
        Scan {
            toks,
            at: 0,
            levels: vec![Level::new(Kind::Top, [0; RULES])],
            depths: Depths::default(),
            limit: MAX_RULE_DEPTH,
        }
    }

    fn peek(&self, ahead: usize) -> Option<Tok> {
        self.toks.get(self.at + ahead).copied()
    }

    fn level(&mut self) -> &mut Level {
        self.levels
            .last_mut()
            .expect("the top level is never popped")
    }

    /// `Some(Ok(depths))` for a grammatical input, `Some(Err(..))` as soon
    /// as the rule nesting exceeds the limit (cel-go's listener stops the
    /// parse there), `None` for an ungrammatical one.
    fn run(mut self) -> Option<Result<Depths, BoundError>> {
        let mut expect = Expect::Operand;
        loop {
            if self.depths.rule > self.limit {
                return Some(Err(BoundError::RuleDepth(self.limit)));
            }
            expect = match expect {
                Expect::Operand => self.operand()?,
                Expect::Postfix => match self.postfix()? {
                    Some(next) => next,
                    None => return Some(Ok(self.depths)),
                },
                Expect::ListItem => match self.peek(0)? {
                    Tok::RBracket => self.close_empty(),
                    Tok::Question => {
                        self.at += 1;
                        Expect::Operand
                    }
                    _ => Expect::Operand,
                },
                Expect::MapKey => match self.peek(0)? {
                    Tok::RBrace => self.close_empty(),
                    Tok::Question => {
                        self.at += 1;
                        Expect::Operand
                    }
                    _ => Expect::Operand,
                },
                Expect::Field => match self.peek(0)? {
                    Tok::RBrace => self.close_empty(),
                    _ => {
                        if self.peek(0) == Some(Tok::Question) {
                            self.at += 1;
                        }
                        match (self.peek(0)?, self.peek(1)?) {
                            (Tok::Ident | Tok::EscIdent, Tok::Colon) => {
                                self.at += 2;
                                Expect::Operand
                            }
                            _ => return None,
                        }
                    }
                },
                Expect::Args => match self.peek(0)? {
                    Tok::RParen => self.close_empty(),
                    _ => Expect::Operand,
                },
            };
        }
    }

    /// The rule counts at an operand of the current level; `primary` tells
    /// whether the `primary` rule is entered (not for the brackets of an
    /// index or a member call, which belong to `member`).
    fn counts(&self, primary: bool) -> Counts {
        let level = self.levels.last().expect("the top level is never popped");
        // Right operands pending in this level's current relation: one
        // frame of `relation`, and of `calc` one per pending `+` or `*`.
        let mut rel = 0;
        let mut calc = 0;
        for op in level.ops.iter().rev() {
            match op {
                Op::Add | Op::Mul if rel == 0 => calc += 1,
                Op::Add | Op::Mul => {}
                Op::Rel => rel = 1,
                Op::Or | Op::And | Op::Then | Op::Else => break,
            }
        }
        let mut counts = level.base;
        for (rule, count) in counts.iter_mut().enumerate() {
            *count += match rule {
                REL => 1 + rel,
                CALC => 1 + calc,
                PRIMARY => u32::from(primary),
                _ => 1,
            };
        }
        counts
    }

    fn enter(&mut self, counts: &Counts) {
        let deepest = counts.iter().copied().max().unwrap_or(0);
        self.depths.rule = self.depths.rule.max(deepest);
    }

    fn visitor(&mut self, depth: u32) -> u32 {
        self.depths.visitor = self.depths.visitor.max(depth);
        depth
    }

    fn push_level(&mut self, kind: Kind, base: Counts) {
        self.levels.push(Level::new(kind, base));
    }

    /// A unary prefix then a member.
    fn operand(&mut self) -> Step<Expect> {
        match self.peek(0)? {
            Tok::Not => {
                while self.peek(0) == Some(Tok::Not) {
                    self.at += 1;
                }
                // `!-1` is a negative literal; `!-a` is not a member.
                if self.peek(0) == Some(Tok::Minus) && self.peek(1) != Some(Tok::SignableNumber) {
                    return None;
                }
            }
            Tok::Minus => {
                while self.peek(0) == Some(Tok::Minus) {
                    self.at += 1;
                }
                if self.peek(0) == Some(Tok::Not) {
                    return None;
                }
            }
            _ => {}
        }
        self.primary()
    }

    fn primary(&mut self) -> Step<Expect> {
        let counts = self.counts(true);
        self.enter(&counts);
        let tok = self.peek(0)?;
        self.at += 1;
        match tok {
            Tok::Minus => {
                // A signed literal after `!`s.
                self.at += 1;
                self.level().vals.push(0);
                Some(Expect::Postfix)
            }
            Tok::SignableNumber | Tok::Literal => {
                self.level().vals.push(0);
                Some(Expect::Postfix)
            }
            Tok::Dot => match self.peek(0)? {
                Tok::Ident => {
                    self.at += 1;
                    self.identifier(counts)
                }
                _ => None,
            },
            Tok::Ident => self.identifier(counts),
            Tok::LParen => {
                self.push_level(Kind::Paren, counts);
                Some(Expect::Operand)
            }
            Tok::LBracket => {
                self.push_level(Kind::List, counts);
                Some(self.leading_comma(Tok::RBracket, Expect::ListItem))
            }
            Tok::LBrace => {
                self.push_level(Kind::Map { value: false }, counts);
                Some(self.leading_comma(Tok::RBrace, Expect::MapKey))
            }
            _ => None,
        }
    }

    /// `[,]` and `{,}` are empty literals.
    fn leading_comma(&mut self, close: Tok, otherwise: Expect) -> Expect {
        if self.peek(0) == Some(Tok::Comma) && self.peek(1) == Some(close) {
            self.at += 1;
        }
        otherwise
    }

    /// After an identifier in primary position: a plain identifier, a
    /// global call, or the start of a message literal `a.b.C{`.
    fn identifier(&mut self, counts: Counts) -> Step<Expect> {
        if self.peek(0) == Some(Tok::LParen) {
            self.at += 1;
            self.push_level(Kind::Call { receiver: None }, counts);
            return Some(Expect::Args);
        }
        let mut ahead = 0;
        while self.peek(ahead) == Some(Tok::Dot) && self.peek(ahead + 1) == Some(Tok::Ident) {
            ahead += 2;
        }
        if self.peek(ahead) == Some(Tok::LBrace) {
            self.at += ahead + 1;
            self.push_level(Kind::Message, counts);
            return Some(self.leading_comma(Tok::RBrace, Expect::Field));
        }
        self.level().vals.push(0);
        Some(Expect::Postfix)
    }

    /// After a member: `Ok(Some(next))`, or `Ok(None)` at the end of a
    /// complete input.
    fn postfix(&mut self) -> Step<Option<Expect>> {
        let Some(tok) = self.peek(0) else {
            return self.terminate(None).map(|_| None);
        };
        let binary = match tok {
            Tok::Or => Some(Op::Or),
            Tok::And => Some(Op::And),
            Tok::Relation | Tok::In => Some(Op::Rel),
            Tok::Plus | Tok::Minus => Some(Op::Add),
            Tok::Mul => Some(Op::Mul),
            _ => None,
        };
        if let Some(op) = binary {
            self.at += 1;
            self.reduce(op.precedence())?;
            self.level().ops.push(op);
            return Some(Some(Expect::Operand));
        }
        match tok {
            Tok::Dot => {
                self.at += 1;
                match (self.peek(0)?, self.peek(1)) {
                    (Tok::Ident, Some(Tok::LParen)) => {
                        self.at += 2;
                        let receiver = self.level().vals.pop()?;
                        let base = self.counts(false);
                        self.push_level(
                            Kind::Call {
                                receiver: Some(receiver),
                            },
                            base,
                        );
                        Some(Some(Expect::Args))
                    }
                    (Tok::Question, Some(Tok::Ident | Tok::EscIdent))
                    | (Tok::Ident | Tok::EscIdent, _) => {
                        self.at += if self.peek(0) == Some(Tok::Question) {
                            2
                        } else {
                            1
                        };
                        let operand = self.level().vals.pop()?;
                        let depth = self.visitor(operand + 1);
                        self.level().vals.push(depth);
                        Some(Some(Expect::Postfix))
                    }
                    _ => None,
                }
            }
            Tok::LBracket => {
                self.at += 1;
                if self.peek(0) == Some(Tok::Question) {
                    self.at += 1;
                }
                let operand = self.level().vals.pop()?;
                let base = self.counts(false);
                self.push_level(Kind::Index { operand }, base);
                Some(Some(Expect::Operand))
            }
            Tok::Question => {
                self.at += 1;
                self.reduce(0)?;
                let level = self.level();
                if level.ops.contains(&Op::Then) {
                    // `a ? b ? c : d : e`: the then branch is no ternary.
                    return None;
                }
                level.ops.push(Op::Then);
                Some(Some(Expect::Operand))
            }
            Tok::Colon if self.level().ops.contains(&Op::Then) => {
                self.at += 1;
                self.reduce(0)?;
                let level = self.level();
                if level.ops.pop() != Some(Op::Then) {
                    return None;
                }
                level.ops.push(Op::Else);
                let mut base = level.base;
                base[EXPR] += 1;
                self.push_level(Kind::Else, base);
                Some(Some(Expect::Operand))
            }
            Tok::RParen | Tok::RBracket | Tok::RBrace | Tok::Comma | Tok::Colon => {
                self.at += 1;
                self.terminate(Some(tok)).map(Some)
            }
            _ => None,
        }
    }

    /// Reduces the operators of the current level binding at least as
    /// tightly as `precedence` (all are left-associative).
    fn reduce(&mut self, precedence: u8) -> Step<()> {
        loop {
            let level = self.level();
            let Some(&op) = level.ops.last() else {
                return Some(());
            };
            if matches!(op, Op::Then | Op::Else) || op.precedence() < precedence {
                return Some(());
            }
            level.ops.pop();
            let (right, left) = (level.vals.pop()?, level.vals.pop()?);
            let depth = match op {
                // Balanced trees, not counted by the visitor.
                Op::Or | Op::And => left.max(right),
                _ => 1 + left.max(right),
            };
            let depth = self.visitor(depth);
            self.level().vals.push(depth);
        }
    }

    /// Reduces the whole current level to the visitor depth of its
    /// expression.
    fn finish(&mut self) -> Step<u32> {
        self.reduce(0)?;
        let level = self.level();
        match (level.ops.as_slice(), level.vals.as_slice()) {
            ([], [v]) => Some(*v),
            _ => None,
        }
    }

    /// Ends the expression of the current level at `tok` (`None`: the end
    /// of input), first closing the else branches it ends.
    fn terminate(&mut self, tok: Option<Tok>) -> Step<Expect> {
        let mut value = self.finish()?;
        while self.level().kind == Kind::Else {
            self.levels.pop();
            let level = self.level();
            if level.ops.pop() != Some(Op::Else) {
                return None;
            }
            let (then, cond) = (level.vals.pop()?, level.vals.pop()?);
            let depth = self.visitor(1 + cond.max(then).max(value));
            self.level().vals.push(depth);
            value = self.finish()?;
        }
        let level = self.level();
        level.items = level.items.max(value);
        level.vals.clear();
        let kind = level.kind;
        match (kind, tok) {
            (Kind::Top, None) => Some(Expect::Postfix),
            (Kind::Paren, Some(Tok::RParen)) => Some(self.close(value)),
            (Kind::List, Some(Tok::Comma)) => Some(Expect::ListItem),
            (Kind::Map { value: true }, Some(Tok::Comma)) => {
                self.level().kind = Kind::Map { value: false };
                Some(Expect::MapKey)
            }
            (Kind::Map { value: false }, Some(Tok::Colon)) => {
                self.level().kind = Kind::Map { value: true };
                Some(Expect::Operand)
            }
            (Kind::Message, Some(Tok::Comma)) => Some(Expect::Field),
            (Kind::Call { .. }, Some(Tok::Comma)) => Some(Expect::Operand),
            (Kind::List, Some(Tok::RBracket))
            | (Kind::Map { value: true }, Some(Tok::RBrace))
            | (Kind::Message, Some(Tok::RBrace))
            | (Kind::Call { .. }, Some(Tok::RParen)) => {
                let items = self.level().items;
                Some(self.close(items))
            }
            (Kind::Index { operand }, Some(Tok::RBracket)) => {
                let depth = self.visitor(1 + operand.max(value));
                Some(self.close(depth))
            }
            _ => None,
        }
    }

    /// Closes the current bracket level, whose items are all finished, at
    /// its closing token (already consumed by the caller, or the next
    /// token for an empty literal).
    fn close_empty(&mut self) -> Expect {
        self.at += 1;
        let items = self.level().items;
        self.close(items)
    }

    fn close(&mut self, items: u32) -> Expect {
        let level = self.levels.pop().expect("a bracket level is open");
        let depth = match level.kind {
            Kind::Call {
                receiver: Some(receiver),
            } => self.visitor(1 + receiver.max(items)),
            _ => items,
        };
        self.level().vals.push(depth);
        Expect::Postfix
    }
}

impl Level {
    fn new(kind: Kind, base: Counts) -> Level {
        Level {
            kind,
            base,
            ops: Vec::new(),
            vals: Vec::new(),
            items: 0,
        }
    }
}

/// The depths `src` parses to, with no limit applied: `None` when the
/// grammar does not accept it. For tests against cel-go's parser.
#[cfg(test)]
pub(crate) fn depths(src: &str) -> Option<(u32, u32)> {
    let toks = tokenize(src).ok()?;
    let mut scan = Scan::new(&toks);
    scan.limit = u32::MAX;
    let depths = scan.run()?.ok()?;
    Some((depths.rule, depths.visitor))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule nesting and visitor depth as cel-go's parser counts them
    /// (checked against cel-go's own limits).
    #[test]
    fn depths_are_counted_as_cel_go_counts_them() {
        let cases: &[(&str, (u32, u32))] = &[
            ("self.x == oldSelf.x", (2, 2)),
            ("a.b.c.d.e.f(1, 2)[3].g", (2, 7)),
            (
                "self.l.map(x, x * 2).filter(y, y > 3).exists_one(z, z == 4)",
                (3, 4),
            ),
            ("[1,2,3].all(x, x in [1,2,3])", (4, 2)),
            ("a ? b : c ? d : e ? f : g", (4, 3)),
            ("((a ? b : c)) + 1", (4, 2)),
            ("{'a': 1, 'b': [1,2,]}['a'] > 0", (3, 2)),
            ("!(a || b) && !c", (2, 0)),
            ("1 - -1", (2, 1)),
            ("a.?b.?c", (1, 2)),
            ("google.protobuf.Timestamp{seconds: 1}", (2, 0)),
            ("x.y.z{}", (1, 0)),
            ("[,]", (1, 0)),
            ("{a ? b : c : d}", (3, 1)),
            ("a < b + c * d", (3, 3)),
        ];
        for (src, want) in cases {
            assert_eq!(depths(src), Some(*want), "{src}");
        }
    }

    /// The grammar's own corners: what cel-go refuses with a syntax error
    /// is not trusted; what it accepts is.
    #[test]
    fn ungrammatical_input_is_not_trusted() {
        for src in [
            "!-a",
            "-!a",
            "f(1,)",
            "a ? b ? c : d : e",
            "a.`b`()",
            "a[1](2)",
            "(a)(1)",
            "a.b(1).c{}",
            "(((",
            "a +",
            "]",
            "'open",
        ] {
            assert_eq!(depths(src), None, "{src}");
        }
        for src in [
            "!-1", "--1", "-1u", "a.`b c`", "[?a]", "a[?0]", "A{?f: 1}", ".f(1)",
        ] {
            assert!(depths(src).is_some(), "{src}");
        }
    }

    fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    }

    /// The deepest expression of each shape that passes, and the one just
    /// over, with cel-go's message.
    #[test]
    fn limits_of_each_shape() {
        let rule = Err(BoundError::RuleDepth(MAX_RULE_DEPTH));
        let visitor = Err(BoundError::VisitorDepth);
        let r = MAX_RULE_DEPTH as usize;
        let v = MAX_VISITOR_DEPTH as usize;
        let shapes: Vec<(String, String, Result<(), BoundError>)> = vec![
            (
                nested("(", "1", ")", r - 1),
                nested("(", "1", ")", r),
                rule.clone(),
            ),
            (
                nested("[", "1", "]", r - 1),
                nested("[", "1", "]", r),
                rule.clone(),
            ),
            (
                nested("{1:", "1", "}", r - 1),
                nested("{1:", "1", "}", r),
                rule.clone(),
            ),
            (
                nested("f(", "1", ")", r - 1),
                nested("f(", "1", ")", r),
                rule.clone(),
            ),
            (
                format!("{}1", "true ? 1 : ".repeat(r - 1)),
                format!("{}1", "true ? 1 : ".repeat(r)),
                rule.clone(),
            ),
            (
                nested("1 + (", "1", ")", (r - 1) / 2),
                nested("1 + (", "1", ")", (r - 1) / 2 + 1),
                rule.clone(),
            ),
            (
                format!("1{}", "+1".repeat(v)),
                format!("1{}", "+1".repeat(v + 1)),
                visitor.clone(),
            ),
            (
                format!("a{}", ".b".repeat(v)),
                format!("a{}", ".b".repeat(v + 1)),
                visitor.clone(),
            ),
            (
                format!("a{}", "[0]".repeat(v)),
                format!("a{}", "[0]".repeat(v + 1)),
                visitor.clone(),
            ),
            (
                format!("a{}", ".f()".repeat(v)),
                format!("a{}", ".f()".repeat(v + 1)),
                visitor.clone(),
            ),
            (
                format!("1{}", "<1".repeat(v)),
                format!("1{}", "<1".repeat(v + 1)),
                visitor.clone(),
            ),
        ];
        for (deepest, over, err) in shapes {
            assert_eq!(check(&deepest), Ok(()), "{deepest}");
            assert_eq!(check(&over), err, "{over}");
        }
        assert_eq!(
            BoundError::RuleDepth(MAX_RULE_DEPTH).to_string(),
            "expression recursion limit exceeded: 100"
        );
        assert_eq!(
            BoundError::VisitorDepth.to_string(),
            "max recursion depth exceeded"
        );
    }

    #[test]
    fn long_flat_expressions_pass() {
        let and = format!("true{}", " && true".repeat((MAX_CODE_POINTS - 4) / 8));
        assert!(and.len() <= MAX_CODE_POINTS);
        assert_eq!(check(&and), Ok(()));
        let not = format!("{}true", "!".repeat(MAX_CODE_POINTS - 4));
        assert_eq!(check(&not), Ok(()));
        // 100 clauses over 200-character property names.
        let name = "p".repeat(200);
        let clauses: Vec<String> = (0..100)
            .map(|i| format!("self.{name}.x{i} == oldSelf.{name}.x{i}"))
            .collect();
        assert_eq!(check(&clauses.join(" && ")), Ok(()));
        let list = format!("[{}] == []", vec!["1"; 40_000].join(","));
        assert_eq!(check(&list), Ok(()));
    }

    #[test]
    fn size_counts_code_points() {
        let ok = "é".repeat(MAX_CODE_POINTS);
        assert!(ok.len() > MAX_CODE_POINTS);
        assert_eq!(check(&format!("'{}'", &ok[..ok.len() - 4])), Ok(()));
        let big = "1".repeat(1 << 20);
        let started = std::time::Instant::now();
        let err = check(&big).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expression code point size exceeds limit: size: 1048576, limit 100000"
        );
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        assert_eq!(
            check(&format!("'{}'", "é".repeat(MAX_CODE_POINTS - 1))).unwrap_err(),
            BoundError::Size {
                size: MAX_CODE_POINTS + 1,
                limit: MAX_CODE_POINTS
            }
        );
    }

    #[test]
    fn strings_and_comments_do_not_nest() {
        let deep = "(".repeat(5000);
        for src in [
            format!("'{deep}' == ''"),
            format!("\"{deep}\\\"\" == ''"),
            format!("'''{deep}\n''' == ''"),
            format!("r'{deep}\\' == ''"),
            format!("b\"{deep}\" == b''"),
            format!("true // {deep}\n && true"),
        ] {
            assert_eq!(check(&src), Ok(()), "{src}");
        }
    }

    /// A broken string lets ANTLR lex its inside as code: such input is
    /// bounded by the operators it could contain.
    #[test]
    fn broken_input_is_bounded_by_its_operators() {
        let chain = "+1".repeat(300);
        assert_eq!(
            check(&format!("'\\q{chain}'")),
            Err(BoundError::VisitorDepth)
        );
        assert_eq!(
            check(&format!("'open {chain}")),
            Err(BoundError::VisitorDepth)
        );
        assert_eq!(check("'open (((( +1"), Ok(()));
        // Mismatched brackets that ANTLR may delete do not close anything.
        assert_eq!(check(&"(1 + ) ".repeat(120)), Ok(()));
        assert_eq!(check(&"(1 + ) ".repeat(300)), Err(BoundError::VisitorDepth));
    }
}
