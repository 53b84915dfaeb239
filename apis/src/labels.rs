//! Label selectors, as `k8s.io/apimachinery/pkg/labels` (Kubernetes v1.33).
//!
//! - [`parse`] is upstream `labels.Parse`: the same hand-written lexer and
//!   recursive-descent parser, the same validation (`NewRequirement`) and the
//!   same error texts, e.g. `unable to parse requirement: <nil>: Invalid
//!   value: "a$b": name part must consist of ...` or `found '', expected:
//!   identifier after ','`.
//! - [`from_label_selector`] is `metav1.LabelSelectorAsSelector` on the JSON
//!   form of a `LabelSelector`.
//! - [`Selector`] matches, renders (`String()`) and introspects like
//!   upstream's `internalSelector` / `nothingSelector`.
//!
//! Empty vs. null: an empty string or an empty `LabelSelector` object (`{}`,
//! or both lists empty) selects everything; a JSON `null` selector (upstream:
//! a nil `*LabelSelector`) selects nothing ([`Selector::nothing`]), exactly as
//! `LabelSelectorAsSelector` does.

use crate::goquote::go_quote;
use crate::validation::{is_qualified_name, is_valid_label_value};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// A selector operator (`selection.Operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

impl Operator {
    /// Upstream's string value: `=`, `==`, `!=`, `in`, `notin`, `exists`,
    /// `!`, `gt`, `lt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Upstream `binaryOperators`, in its order, as listed in parse errors.
const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

/// A label selector error; `Display` is the exact upstream message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError {
    message: String,
}

impl SelectorError {
    fn new(message: impl Into<String>) -> Self {
        SelectorError {
            message: message.into(),
        }
    }

    /// The upstream error text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SelectorError {}

/// Go's `%#v` of a `[]string`. An empty list is rendered as the nil slice
/// `[]string(nil)`, which is what `LabelSelectorAsSelector` passes for a
/// missing or empty `values`.
fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_string();
    }
    let quoted: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// `field.Invalid(path, value, detail).Error()` with a pre-rendered value.
fn invalid(path: &str, rendered_value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {rendered_value}: {detail}")
}

/// `field.ErrorList.ToAggregate().Error()`: duplicates dropped, one message
/// as is, several in brackets joined by ", ".
fn aggregate(messages: Vec<String>) -> Option<String> {
    let mut unique: Vec<String> = Vec::with_capacity(messages.len());
    for m in messages {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    match unique.len() {
        0 => None,
        1 => unique.pop(),
        _ => Some(format!("[{}]", unique.join(", "))),
    }
}

/// One requirement: `key <operator> values`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Upstream `NewRequirement` (without a field path): validates the key
    /// (qualified name), the number of values for the operator, integer
    /// values for `gt`/`lt`, and every value (label value). All problems are
    /// reported together in upstream's aggregate form, e.g.
    /// `values: Invalid value: []string(nil): for 'in', 'notin' operators,
    /// values set can't be empty`.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        let key = key.into();
        let mut errs = Vec::new();
        let key_errs = is_qualified_name(&key);
        if !key_errs.is_empty() {
            errs.push(invalid("key", &go_quote(&key), &key_errs.join("; ")));
        }
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(invalid(
                        "values",
                        &go_string_slice(&values),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(invalid(
                        "values",
                        &go_string_slice(&values),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(invalid(
                        "values",
                        &go_string_slice(&values),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(invalid(
                        "values",
                        &go_string_slice(&values),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(invalid(
                            &format!("values[{i}]"),
                            &go_quote(v),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let value_errs = is_valid_label_value(v);
            if !value_errs.is_empty() {
                errs.push(invalid(
                    &format!("values[{i}][{key}]"),
                    &go_quote(v),
                    &value_errs.join("; "),
                ));
            }
        }
        match aggregate(errs) {
            Some(message) => Err(SelectorError::new(message)),
            None => Ok(Requirement {
                key,
                operator,
                values,
            }),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values as given (the parser gives them sorted and de-duplicated).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has_value(&self, value: Option<&str>) -> bool {
        value.is_some_and(|v| self.values.iter().any(|x| x == v))
    }

    /// `lookup(key)` is `None` when the label is absent, `Some(None)` when
    /// present with a non-string value.
    fn matches_with<'a>(&self, lookup: &dyn Fn(&str) -> Option<Option<&'a str>>) -> bool {
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                lookup(&self.key).is_some_and(|v| self.has_value(v))
            }
            Operator::NotIn | Operator::NotEquals => match lookup(&self.key) {
                None => true,
                Some(v) => !self.has_value(v),
            },
            Operator::Exists => lookup(&self.key).is_some(),
            Operator::DoesNotExist => lookup(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(Some(label)) = lookup(&self.key) else {
                    return false;
                };
                let Ok(label) = label.parse::<i64>() else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    label > wanted
                } else {
                    label < wanted
                }
            }
        }
    }

    /// Upstream `Requirement.Matches`: `in`/`=`/`==` need the key present
    /// with one of the values; `notin`/`!=` also match when the key is
    /// absent; `gt`/`lt` need the key present with an integer value.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.matches_with(&|k| labels.get(k).map(Value::as_str))
    }
}

/// Upstream `Requirement.String()`: `!key`, `key`, `key=v`, `key==v`,
/// `key!=v`, `key in (a,b)`, `key notin (a)`, `key>1`, `key<1`, with several
/// values sorted.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        if self.values.len() == 1 {
            f.write_str(&self.values[0])?;
        } else {
            let mut sorted: Vec<&str> = self.values.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            f.write_str(&sorted.join(","))?;
        }
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: the conjunction of its requirements (kept sorted by
/// key, as upstream does), or the special selector that matches nothing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    /// Matches every object (upstream `labels.Everything()`).
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Matches no object (upstream `labels.Nothing()`, what a null
    /// `LabelSelector` converts to). Renders as `""`, `is_empty()` is false.
    pub fn nothing() -> Selector {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Upstream `SelectorFromValidatedSet`: `key=value` for every pair, no
    /// validation.
    pub fn from_set<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Selector {
        let requirements = pairs
            .into_iter()
            .map(|(k, v)| Requirement {
                key: k.to_string(),
                operator: Operator::Equals,
                values: vec![v.to_string()],
            })
            .collect();
        Selector::everything().with_requirements(requirements)
    }

    /// Upstream `Add`: a copy with more requirements, re-sorted by key. Adding
    /// to [`Selector::nothing`] keeps it matching nothing.
    pub fn with_requirements(mut self, requirements: Vec<Requirement>) -> Selector {
        if self.nothing {
            return self;
        }
        self.requirements.extend(requirements);
        self.requirements.sort_by(|a, b| a.key.cmp(&b.key));
        self
    }

    /// True when the selector does not restrict anything (upstream
    /// `Empty()`); false for [`Selector::nothing`].
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True only for [`Selector::nothing`] (upstream `MatchesNothing`).
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key (empty for nothing and everything).
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether an object with these labels (JSON strings) is selected.
    /// A label whose value is not a string counts as present but equal to
    /// no value (upstream labels are always strings).
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        !self.nothing
            && self
                .requirements
                .iter()
                .all(|r| r.matches_with(&|k| labels.get(k).map(Value::as_str)))
    }

    /// [`Selector::matches`] over any string map, given as a lookup function.
    pub fn matches_lookup<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        !self.nothing
            && self
                .requirements
                .iter()
                .all(|r| r.matches_with(&|k| get(k).map(Some)))
    }

    /// Upstream `RequiresExactMatch`: the value the first requirement on
    /// `key` pins it to, if that requirement is `=`, `==` or a one-value
    /// `in`.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

/// Upstream `String()`: requirements joined by `,` (no spaces); `""` for
/// everything and for nothing.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Lexer (a byte-for-byte port of upstream's behaviour).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn literal_token(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// The next byte, or 0 at the end. As upstream, a NUL byte in the input
    /// also reads as 0 (and is consumed).
    fn read(&mut self) -> u8 {
        if self.pos < self.s.len() {
            let b = self.s[self.pos];
            self.pos += 1;
            b
        } else {
            0
        }
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let mut buffer = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            buffer.push(ch);
        }
        // Only ASCII bytes delimit identifiers, so the buffer is valid UTF-8.
        let lit = String::from_utf8_lossy(&buffer).into_owned();
        match literal_token(&buffer) {
            Some(tok) => (tok, lit),
            None => (Token::Identifier, lit),
        }
    }

    fn scan_special_symbol(&mut self) -> (Token, String) {
        let mut last: Option<(Token, String)> = None;
        let mut buffer = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special_symbol(ch) {
                self.unread();
                break;
            }
            buffer.push(ch);
            if let Some(tok) = literal_token(&buffer) {
                last = Some((tok, String::from_utf8_lossy(&buffer).into_owned()));
            } else if last.is_some() {
                self.unread();
                break;
            }
        }
        last.unwrap_or_else(|| {
            (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    String::from_utf8_lossy(&buffer)
                ),
            )
        })
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            (Token::EndOfString, String::new())
        } else if is_special_symbol(ch) {
            self.unread();
            self.scan_special_symbol()
        } else {
            self.unread();
            self.scan_id_or_keyword()
        }
    }
}

// ---------------------------------------------------------------------------
// Parser.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

type ParseResult<T> = Result<T, String>;

impl Parser {
    fn item(&self, context: Context) -> (Token, String) {
        let (tok, lit) = self
            .items
            .get(self.position)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        // `in` and `notin` are ordinary identifiers where a value is expected.
        let tok = match (context, tok) {
            (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
            _ => tok,
        };
        (tok, lit)
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        self.item(context)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.item(context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> ParseResult<Vec<Requirement>> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> ParseResult<Requirement> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = operator {
            return Requirement::new(key, op, Vec::new()).map_err(|e| e.message);
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(key, operator, values.into_iter().collect()).map_err(|e| e.message)
    }

    fn parse_key_and_infer_operator(&mut self) -> ParseResult<(String, Option<Operator>)> {
        let mut operator = None;
        let (mut tok, mut literal) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, literal) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        let errs = is_qualified_name(&literal);
        if !errs.is_empty() {
            // Upstream validates with the parser's nil field path, which
            // renders as "<nil>".
            return Err(invalid("<nil>", &go_quote(&literal), &errs.join("; ")));
        }
        let (t, _) = self.lookahead(Context::Values);
        if (t == Token::EndOfString || t == Token::Comma)
            && operator != Some(Operator::DoesNotExist)
        {
            operator = Some(Operator::Exists);
        }
        Ok((literal, operator))
    }

    fn parse_operator(&mut self) -> ParseResult<Operator> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        })
    }

    fn parse_values(&mut self) -> ParseResult<BTreeSet<String>> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                let (t, _) = self.consume(Context::Values);
                if t != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    /// A possibly empty list of possibly empty values. As in v1.33, `,,`
    /// consumes the second comma, so `(a,,)` is rejected (fixed upstream
    /// only later, behind a feature gate).
    fn parse_identifiers_list(&mut self) -> ParseResult<BTreeSet<String>> {
        let mut set = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    set.insert(lit);
                    let (t2, l2) = self.lookahead(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new()); // "(,"
                    }
                    let (t2, _) = self.lookahead(Context::Values);
                    if t2 == Token::ClosedPar {
                        set.insert(String::new()); // ",)"
                        return Ok(set);
                    }
                    if t2 == Token::Comma {
                        self.consume(Context::Values);
                        set.insert(String::new()); // ",,"
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> ParseResult<BTreeSet<String>> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(BTreeSet::from([lit]))
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

/// Upstream `labels.Parse`. Grammar:
///
/// ```text
/// <selector-syntax>         ::= <requirement> | <requirement> "," <selector-syntax>
/// <requirement>             ::= [!] KEY [ <set-based-restriction> | <exact-match-restriction> ]
/// <set-based-restriction>   ::= "" | <inclusion-exclusion> <value-set>
/// <inclusion-exclusion>     ::= "in" | "notin"
/// <value-set>               ::= "(" <values> ")"
/// <values>                  ::= VALUE | VALUE "," <values>
/// <exact-match-restriction> ::= ["=" | "==" | "!=" | ">" | "<"] VALUE
/// ```
///
/// Whitespace (space, tab, CR, LF) separates tokens and is otherwise ignored;
/// an empty or blank string selects everything. Values of a set are sorted and
/// de-duplicated; requirements are sorted by key.
pub fn parse(selector: &str) -> Result<Selector, SelectorError> {
    let mut lexer = Lexer {
        s: selector.as_bytes(),
        pos: 0,
    };
    let mut items = Vec::new();
    loop {
        let item = lexer.lex();
        let end = item.0 == Token::EndOfString;
        items.push(item);
        if end {
            break;
        }
    }
    let mut parser = Parser { items, position: 0 };
    let requirements = parser.parse().map_err(SelectorError::new)?;
    Ok(Selector::everything().with_requirements(requirements))
}

/// Trellis-specific message for JSON that upstream would fail to decode.
fn shape_error(what: &str) -> SelectorError {
    SelectorError::new(format!("invalid label selector: {what}"))
}

fn string_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, SelectorError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| shape_error(&format!("{what} must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(shape_error(&format!("{what} must be a list of strings"))),
    }
}

/// Upstream `metav1.LabelSelectorAsSelector` on a JSON `LabelSelector`:
///
/// - `null` selects nothing ([`Selector::nothing`]);
/// - `{}` (no `matchLabels` and no `matchExpressions`) selects everything;
/// - `matchLabels` entries become `key=value` (checked in key order; Go's
///   order is random), then `matchExpressions` in order become `in`, `notin`,
///   `exists` or `!` requirements, with `NewRequirement`'s errors
///   (e.g. `values: Invalid value: []string(nil): for 'in', 'notin'
///   operators, values set can't be empty`) and
///   `"Foo" is not a valid pod selector operator` for other operators.
///
/// The first invalid entry's error is returned. JSON of the wrong shape
/// (which upstream rejects while decoding) gets a Trellis-specific
/// `invalid label selector: ...` message.
pub fn from_label_selector(v: &Value) -> Result<Selector, SelectorError> {
    let obj = match v {
        Value::Null => return Ok(Selector::nothing()),
        Value::Object(obj) => obj,
        _ => return Err(shape_error("must be an object")),
    };
    let match_labels = match obj.get("matchLabels") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(shape_error("matchLabels must be an object")),
    };
    let match_expressions = match obj.get("matchExpressions") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(shape_error("matchExpressions must be a list")),
    };
    let label_count = match_labels.map_or(0, Map::len);
    if label_count + match_expressions.len() == 0 {
        return Ok(Selector::everything());
    }
    let mut requirements = Vec::with_capacity(label_count + match_expressions.len());
    if let Some(labels) = match_labels {
        let mut entries: Vec<_> = labels.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in entries {
            let value = value
                .as_str()
                .ok_or_else(|| shape_error("matchLabels values must be strings"))?;
            requirements.push(Requirement::new(
                key.as_str(),
                Operator::Equals,
                vec![value.to_string()],
            )?);
        }
    }
    for expr in match_expressions {
        let Value::Object(expr) = expr else {
            return Err(shape_error("matchExpressions entries must be objects"));
        };
        let key = match expr.get("key") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(shape_error("matchExpressions key must be a string")),
        };
        let operator = match expr.get("operator") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(shape_error("matchExpressions operator must be a string")),
        };
        let op = match operator {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(SelectorError::new(format!(
                    "{} is not a valid pod selector operator",
                    go_quote(other)
                )));
            }
        };
        let values = string_list(expr.get("values"), "matchExpressions values")?;
        requirements.push(Requirement::new(key, op, values)?);
    }
    Ok(Selector::everything().with_requirements(requirements))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const QNAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    fn canon(s: &str) -> String {
        parse(s).unwrap().to_string()
    }

    #[test]
    fn empty_and_blank_select_everything() {
        for s in ["", " ", "\t\n\r "] {
            let sel = parse(s).unwrap();
            assert!(sel.is_empty());
            assert!(sel.requirements().is_empty());
            assert!(sel.matches(&labels(json!({}))));
            assert!(sel.matches(&labels(json!({"a": "b"}))));
            assert_eq!(sel.to_string(), "");
        }
    }

    #[test]
    fn parses_every_operator() {
        let cases: &[(&str, Operator, &[&str], &str)] = &[
            ("a=b", Operator::Equals, &["b"], "a=b"),
            ("a==b", Operator::DoubleEquals, &["b"], "a==b"),
            ("a!=b", Operator::NotEquals, &["b"], "a!=b"),
            ("a in (x,y)", Operator::In, &["x", "y"], "a in (x,y)"),
            ("a notin (x)", Operator::NotIn, &["x"], "a notin (x)"),
            ("a", Operator::Exists, &[], "a"),
            ("!a", Operator::DoesNotExist, &[], "!a"),
            ("a>1", Operator::GreaterThan, &["1"], "a>1"),
            ("a<3", Operator::LessThan, &["3"], "a<3"),
        ];
        for (input, op, values, rendered) in cases {
            let sel = parse(input).unwrap();
            let reqs = sel.requirements();
            assert_eq!(reqs.len(), 1, "{input}");
            assert_eq!(reqs[0].key(), "a");
            assert_eq!(reqs[0].operator(), *op, "{input}");
            assert_eq!(reqs[0].values(), *values, "{input}");
            assert_eq!(sel.to_string(), *rendered);
            assert!(!sel.is_empty());
        }
    }

    #[test]
    fn whitespace_and_canonical_form() {
        assert_eq!(canon("  a = b ,  c  "), "a=b,c");
        assert_eq!(canon("a in(x , y)"), "a in (x,y)");
        assert_eq!(
            canon("x in (foo,,baz),y,z notin ()"),
            "x in (,baz,foo),y,z notin ()"
        );
        // Requirements sorted by key; values sorted and de-duplicated.
        assert_eq!(canon("z=1,a in (c,b,b),m"), "a in (b,c),m,z=1");
        assert_eq!(canon("! a"), "!a");
        assert_eq!(canon("a="), "a=");
        assert_eq!(canon("a=,b"), "a=,b");
        assert_eq!(canon("a in (in,notin)"), "a in (in,notin)");
        assert_eq!(canon("a=in"), "a=in");
        assert_eq!(canon("in in (x)"), "in in (x)");
        assert_eq!(canon("a in (,)"), "a in ()");
        assert_eq!(canon("a in (x,)"), "a in (,x)");
        assert_eq!(canon("a in (,x)"), "a in (,x)");
        assert_eq!(canon("a in (x,,y)"), "a in (,x,y)");
        assert_eq!(
            canon("example.com/app-name=My_Value.1"),
            "example.com/app-name=My_Value.1"
        );
    }

    #[test]
    fn requires_exact_match() {
        let sel = parse("a=1,b in (2),c in (3,4),d!=5,e==6").unwrap();
        assert_eq!(sel.requires_exact_match("a"), Some("1"));
        assert_eq!(sel.requires_exact_match("b"), Some("2"));
        assert_eq!(sel.requires_exact_match("c"), None);
        assert_eq!(sel.requires_exact_match("d"), None);
        assert_eq!(sel.requires_exact_match("e"), Some("6"));
        assert_eq!(sel.requires_exact_match("zz"), None);
    }

    #[test]
    fn matching_semantics() {
        let obj = labels(json!({"app": "web", "tier": "front", "n": "5", "s": "x"}));
        let empty = labels(json!({}));
        let m = |s: &str, l: &Map<String, Value>| parse(s).unwrap().matches(l);

        assert!(m("app=web", &obj));
        assert!(m("app==web", &obj));
        assert!(!m("app=db", &obj));
        assert!(!m("app=web", &empty));

        // != and notin match objects lacking the key; in does not.
        assert!(m("app!=db", &obj));
        assert!(!m("app!=web", &obj));
        assert!(m("app!=web", &empty));
        assert!(m("app notin (db,cache)", &obj));
        assert!(!m("app notin (web)", &obj));
        assert!(m("app notin (web)", &empty));
        assert!(m("app in (db,web)", &obj));
        assert!(!m("app in (db)", &obj));
        assert!(!m("app in (web)", &empty));

        assert!(m("app", &obj));
        assert!(!m("app", &empty));
        assert!(m("!app", &empty));
        assert!(!m("!app", &obj));

        assert!(m("n>4", &obj));
        assert!(!m("n>5", &obj));
        assert!(m("n<6", &obj));
        assert!(!m("n<5", &obj));
        assert!(!m("s>1", &obj)); // non-integer label value
        assert!(!m("missing<10", &obj));

        // Conjunction.
        assert!(m("app=web,tier=front", &obj));
        assert!(!m("app=web,tier=back", &obj));

        // Empty value.
        let blank = labels(json!({"a": ""}));
        assert!(m("a=", &blank));
        assert!(m("a in ()", &blank));
        assert!(!m("a=", &empty));

        // Lookup-based matching on plain string maps.
        let sel = parse("app=web,!gone").unwrap();
        assert!(sel.matches_lookup(|k| (k == "app").then_some("web")));
    }

    #[test]
    fn non_string_label_values() {
        let obj = labels(json!({"a": 1}));
        assert!(parse("a").unwrap().matches(&obj));
        assert!(!parse("a=1").unwrap().matches(&obj));
        assert!(parse("a!=1").unwrap().matches(&obj));
        assert!(!parse("a>0").unwrap().matches(&obj));
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            err(",a"),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("a in x"),
            "unable to parse requirement: found 'x' expected: '('"
        );
        assert_eq!(
            err("a in (x"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (x y)"),
            "unable to parse requirement: found 'y', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in ("),
            "unable to parse requirement: found '', expected: ',', ')' or identifier"
        );
        assert_eq!(
            err("a in (=)"),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(
            err("a in (x,=)"),
            "unable to parse requirement: found '=', expected: ',', or identifier"
        );
        // v1.33 behaviour for ",," right before ")".
        assert_eq!(
            err("a in (x,,)"),
            "unable to parse requirement: found ')', expected: ',', or identifier"
        );
        assert_eq!(
            err("a=(b)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            err("!=a"),
            "found '!=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(err("a=b)"), "found ')', expected: ',' or 'end of string'");
        // "!" binds only to a bare key.
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(err("a,,b"), "found ',', expected: identifier after ','");
        assert_eq!(
            err("a=>b"),
            "unable to parse requirement: found '>', expected: identifier"
        );
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            err("a$b=c"),
            format!("unable to parse requirement: <nil>: Invalid value: \"a$b\": {QNAME_MSG}")
        );
        assert_eq!(
            err("a=b$c"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"b$c\": {VALUE_MSG}"
            )
        );
        // Set values are sorted before validation, so indexes refer to the
        // sorted order.
        assert_eq!(
            err("a in (z$c,ok)"),
            format!(
                "unable to parse requirement: values[1][a]: Invalid value: \"z$c\": {VALUE_MSG}"
            )
        );
        let long_key = "k".repeat(64);
        assert_eq!(
            err(&long_key),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long_key}\": name part must be no more than 63 characters"
            )
        );
        assert!(parse(&"k".repeat(63)).is_ok());
        let long_value = "v".repeat(64);
        assert_eq!(
            err(&format!("a={long_value}")),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"{long_value}\": must be no more than 63 characters"
            )
        );
        assert!(parse(&format!("a={}", "v".repeat(63))).is_ok());
        // Several problems: joined with "; " inside one error.
        let bad = format!("-{}", "v".repeat(63));
        assert_eq!(
            err(&format!("a={bad}")),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"{bad}\": must be no more than 63 characters; {VALUE_MSG}"
            )
        );
        // gt/lt need integers.
        assert_eq!(
            err("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(
            err("a<"),
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        // Two errors: aggregated in brackets.
        assert_eq!(
            err("a>1.5x_"),
            format!(
                "unable to parse requirement: [values[0]: Invalid value: \"1.5x_\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][a]: Invalid value: \"1.5x_\": {VALUE_MSG}]"
            )
        );
        // Negative numbers are not valid label values, so `gt`/`lt` cannot
        // use them (upstream behaves the same).
        assert_eq!(
            err("a>-1"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"-1\": {VALUE_MSG}"
            )
        );
        // Control characters quoted like Go's %q.
        assert_eq!(
            err("a=\u{1}"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"\\x01\": {VALUE_MSG}"
            )
        );
    }

    #[test]
    fn nul_byte_behaves_like_upstream() {
        // Upstream's lexer reads a NUL byte as end-of-input (and consumes it).
        assert_eq!(canon("a \0 b=c"), "a");
        assert_eq!(
            err("a\0b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
    }

    #[test]
    fn nothing_and_everything() {
        let nothing = Selector::nothing();
        assert!(!nothing.is_empty());
        assert!(nothing.matches_nothing());
        assert!(!nothing.matches(&labels(json!({}))));
        assert_eq!(nothing.to_string(), "");
        assert!(nothing.clone().with_requirements(vec![]).matches_nothing());
        let everything = Selector::everything();
        assert!(everything.is_empty());
        assert!(!everything.matches_nothing());
        assert!(everything.matches(&labels(json!({"x": "y"}))));
    }

    #[test]
    fn from_set_and_add() {
        let sel = Selector::from_set([("b", "2"), ("a", "1")]);
        assert_eq!(sel.to_string(), "a=1,b=2");
        let sel = sel.with_requirements(vec![
            Requirement::new("0", Operator::Exists, vec![]).unwrap(),
        ]);
        assert_eq!(sel.to_string(), "0,a=1,b=2");
    }

    #[test]
    fn requirement_new_errors() {
        let e = |k: &str, op, v: &[&str]| {
            Requirement::new(k, op, v.iter().map(|s| s.to_string()).collect())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("a", Operator::In, &[]),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            e("a", Operator::Equals, &["x", "y"]),
            "values: Invalid value: []string{\"x\", \"y\"}: exact-match compatibility requires one single value"
        );
        assert_eq!(
            e("a", Operator::Exists, &["x"]),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        assert_eq!(
            e("a", Operator::GreaterThan, &["1", "2"]),
            "values: Invalid value: []string{\"1\", \"2\"}: for 'Gt', 'Lt' operators, exactly one value is required"
        );
        assert_eq!(
            e("", Operator::Exists, &[]),
            format!("key: Invalid value: \"\": name part must be non-empty; {QNAME_MSG}")
        );
    }

    #[test]
    fn label_selector_conversion() {
        assert!(from_label_selector(&Value::Null).unwrap().matches_nothing());
        assert!(from_label_selector(&json!({})).unwrap().is_empty());
        assert!(
            from_label_selector(&json!({"matchLabels": {}, "matchExpressions": []}))
                .unwrap()
                .is_empty()
        );
        assert!(
            from_label_selector(&json!({"matchLabels": null}))
                .unwrap()
                .is_empty()
        );

        let sel = from_label_selector(&json!({
            "matchLabels": {"app": "web", "tier": "front"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["a"]},
                {"key": "owner", "operator": "Exists", "values": []}
            ]
        }))
        .unwrap();
        assert_eq!(
            sel.to_string(),
            "app=web,!canary,env in (dev,prod),owner,tier=front,zone notin (a)"
        );
        assert!(sel.matches(&labels(
            json!({"app": "web", "tier": "front", "env": "dev", "owner": "me"})
        )));
        assert!(!sel.matches(&labels(
            json!({"app": "web", "tier": "front", "env": "dev", "owner": "me", "canary": "1"})
        )));
        assert!(!sel.matches(&labels(
            json!({"app": "web", "tier": "front", "env": "qa", "owner": "me"})
        )));
        assert!(!sel.matches(&labels(
            json!({"app": "web", "tier": "front", "env": "dev", "owner": "me", "zone": "a"})
        )));
        assert_eq!(sel.requires_exact_match("app"), Some("web"));
    }

    #[test]
    fn label_selector_conversion_errors() {
        let e = |v: Value| from_label_selector(&v).unwrap_err().to_string();
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]})),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})),
            "\"Foo\" is not a valid pod selector operator"
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]})),
            "\"in\" is not a valid pod selector operator"
        );
        assert_eq!(
            e(json!({"matchLabels": {"a b": "x"}})),
            format!("key: Invalid value: \"a b\": {QNAME_MSG}")
        );
        assert_eq!(
            e(json!({"matchLabels": {"a": "x y"}})),
            format!("values[0][a]: Invalid value: \"x y\": {VALUE_MSG}")
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "bad key", "operator": "In"}]})),
            format!(
                "[key: Invalid value: \"bad key\": {QNAME_MSG}, values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty]"
            )
        );
        assert!(e(json!([])).starts_with("invalid label selector:"));
        assert!(e(json!({"matchLabels": {"a": 1}})).starts_with("invalid label selector:"));
    }
}
