//! Syntax check for `pattern`, reporting errors the way Go's `regexp.Compile`
//! (RE2 syntax, `syntax.Perl` flags) words them.
//!
//! Structural schema validation rejects patterns Go cannot compile with
//! `must be a valid regular expression, but isn't: error parsing regexp:
//! <code>: `<expr>``. The `<expr>` excerpt depends on where Go's parser
//! stops, so this is a faithful walk of `regexp/syntax`'s parser that keeps
//! only what decides errors: open groups, whether the previous item can be
//! repeated, the previous repetition (Go forbids `a**`), and, per item, the
//! product of nested `{n,m}` counts (Go caps it at 1000).
//!
//! Approximations: `\p{Name}` accepts any `[A-Z][A-Za-z_]*` name (Go checks
//! its Unicode script tables); the "expression too large" and "expression
//! nests too deeply" limits are not enforced.

/// A Go regexp syntax error: `error parsing regexp: <code>: `<expr>``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub code: &'static str,
    pub expr: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error parsing regexp: {}: `{}`", self.code, self.expr)
    }
}

const INVALID_CHAR_RANGE: &str = "invalid character class range";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const MISSING_BRACKET: &str = "missing closing ]";
const MISSING_PAREN: &str = "missing closing )";
const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
const UNEXPECTED_PAREN: &str = "unexpected )";

fn err(code: &'static str, expr: &str) -> SyntaxError {
    SyntaxError {
        code,
        expr: expr.to_string(),
    }
}

/// Go's `maxRepeat`-style bound on nested counted repetitions.
const MAX_REPEAT: u64 = 1000;

/// One open group (the implicit root is the first).
#[derive(Default)]
struct Frame {
    /// Largest nested-repeat product among finished items of this group.
    max: u64,
    /// The item a repetition operator would apply to; `None` right after
    /// `(` or `|` (Go's pseudo-operators) or at the start.
    last: Option<u64>,
}

impl Frame {
    fn push(&mut self, value: u64) {
        if let Some(prev) = self.last {
            self.max = self.max.max(prev);
        }
        self.last = Some(value);
    }

    fn close(&mut self) -> u64 {
        if let Some(prev) = self.last.take() {
            self.max = self.max.max(prev);
        }
        self.max.max(1)
    }
}

/// `s` minus its first character, and that character.
fn next_char(s: &str) -> (Option<char>, &str) {
    let mut chars = s.chars();
    let c = chars.next();
    (c, chars.as_str())
}

/// The prefix of `whole` that `rest` (a suffix of it) does not cover.
fn consumed<'a>(whole: &'a str, rest: &str) -> &'a str {
    &whole[..whole.len() - rest.len()]
}

/// Checks `pattern` like `regexp.Compile`.
pub fn check(pattern: &str) -> Result<(), SyntaxError> {
    let mut frames = vec![Frame::default()];
    let mut t = pattern;
    let mut last_repeat: &str = "";
    while !t.is_empty() {
        let mut repeat: &str = "";
        let frame = frames.last_mut().expect("root frame");
        match t.as_bytes()[0] {
            b'(' => {
                if t.starts_with("(?") {
                    let (rest, opens) = parse_perl_flags(t)?;
                    if opens {
                        frames.push(Frame::default());
                    }
                    t = rest;
                } else {
                    frames.push(Frame::default());
                    t = &t[1..];
                }
            }
            b'|' => {
                if let Some(prev) = frame.last.take() {
                    frame.max = frame.max.max(prev);
                }
                t = &t[1..];
            }
            b')' => {
                if frames.len() < 2 {
                    return Err(err(UNEXPECTED_PAREN, pattern));
                }
                let mut done = frames.pop().expect("checked");
                let value = done.close();
                frames.last_mut().expect("root").push(value);
                t = &t[1..];
            }
            b'^' | b'$' | b'.' => {
                frame.push(1);
                t = &t[1..];
            }
            b'[' => {
                t = parse_class(t)?;
                frame.push(1);
            }
            b'*' | b'+' | b'?' => {
                let before = t;
                let after = strip_lazy(&t[1..]);
                apply_repeat(frame, before, after, last_repeat, None)?;
                repeat = before;
                t = after;
            }
            b'{' => {
                let before = t;
                match parse_repeat(t) {
                    None => {
                        frame.push(1);
                        t = &t[1..];
                    }
                    Some((min, max, after)) => {
                        if !(0..=1000).contains(&min) || max > 1000 || (max >= 0 && min > max) {
                            return Err(err(INVALID_REPEAT_SIZE, consumed(before, after)));
                        }
                        let after = strip_lazy(after);
                        apply_repeat(frame, before, after, last_repeat, Some((min, max)))?;
                        repeat = before;
                        t = after;
                    }
                }
            }
            b'\\' => {
                t = parse_backslash(t, frame)?;
            }
            _ => {
                let (_, rest) = next_char(t);
                frame.push(1);
                t = rest;
            }
        }
        last_repeat = repeat;
    }
    if frames.len() != 1 {
        return Err(err(MISSING_PAREN, pattern));
    }
    Ok(())
}

/// Perl mode: a `?` after a repetition makes it non-greedy.
fn strip_lazy(after: &str) -> &str {
    after.strip_prefix('?').unwrap_or(after)
}

/// Go's `parser.repeat`: no stacked repetitions, something to repeat, and
/// a bounded product of nested counts.
fn apply_repeat(
    frame: &mut Frame,
    before: &str,
    after: &str,
    last_repeat: &str,
    counted: Option<(i64, i64)>,
) -> Result<(), SyntaxError> {
    if !last_repeat.is_empty() {
        return Err(err(INVALID_REPEAT_OP, consumed(last_repeat, after)));
    }
    let Some(sub) = frame.last else {
        return Err(err(MISSING_REPEAT_ARGUMENT, consumed(before, after)));
    };
    let value = match counted {
        None => sub,
        Some((min, max)) => {
            let m = if max < 0 { min } else { max } as u64;
            let value = if m == 0 { 0 } else { m.saturating_mul(sub) };
            if (min >= 2 || max >= 2) && value > MAX_REPEAT {
                return Err(err(INVALID_REPEAT_SIZE, consumed(before, after)));
            }
            value
        }
    };
    frame.last = Some(value);
    Ok(())
}

/// Go's `parseInt`: decimal without leading zeros; `-1` past 1e8.
fn parse_int(s: &str) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return None;
    }
    if b.len() >= 2 && b[0] == b'0' && b[1].is_ascii_digit() {
        return None;
    }
    let n_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut n: i64 = 0;
    for &d in &b[..n_digits] {
        if n >= 100_000_000 {
            n = -1;
            break;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some((n, &s[n_digits..]))
}

/// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}`; `None` means `{` is a literal.
fn parse_repeat(s: &str) -> Option<(i64, i64, &str)> {
    let s = s.strip_prefix('{')?;
    let (mut min, s) = parse_int(s)?;
    let (max, s) = match s.strip_prefix(',') {
        None => (min, s),
        Some(s) if s.starts_with('}') => (-1, s),
        Some(s) => {
            let (max, s) = parse_int(s)?;
            if max < 0 {
                min = -1;
            }
            (max, s)
        }
    };
    let rest = s.strip_prefix('}')?;
    Some((min, max, rest))
}

/// `(?...`: named captures and flag groups. Returns the rest and whether a
/// group was opened (flag-only groups like `(?i)` open none).
fn parse_perl_flags(s: &str) -> Result<(&str, bool), SyntaxError> {
    let b = s.as_bytes();
    if (b.len() > 4 && b[2] == b'P' && b[3] == b'<') || (b.len() > 3 && b[2] == b'<') {
        let begin = if b[2] == b'<' { 3 } else { 4 };
        let Some(end) = s.find('>') else {
            return Err(err(INVALID_NAMED_CAPTURE, s));
        };
        let capture = &s[..=end];
        let name = &s[begin..end];
        let valid = !name.is_empty() && name.chars().all(|c| c == '_' || c.is_alphanumeric());
        if !valid {
            return Err(err(INVALID_NAMED_CAPTURE, capture));
        }
        return Ok((&s[end + 1..], true));
    }
    let mut t = &s[2..];
    let mut negated = false;
    let mut saw_flag = false;
    while !t.is_empty() {
        let (c, rest) = next_char(t);
        t = rest;
        match c {
            Some('i' | 'm' | 's' | 'U') => saw_flag = true,
            Some('-') => {
                if negated {
                    break;
                }
                negated = true;
                saw_flag = false;
            }
            Some(c @ (':' | ')')) => {
                if negated && !saw_flag {
                    break;
                }
                return Ok((t, c == ':'));
            }
            _ => break,
        }
    }
    Err(err(INVALID_PERL_OP, consumed(s, t)))
}

/// A backslash outside a class: Perl assertions, `\Q...\E`, `\pN`, `\d`,
/// or a single escaped character.
fn parse_backslash<'a>(t: &'a str, frame: &mut Frame) -> Result<&'a str, SyntaxError> {
    let b = t.as_bytes();
    if b.len() >= 2 {
        match b[1] {
            b'A' | b'b' | b'B' | b'z' => {
                frame.push(1);
                return Ok(&t[2..]);
            }
            b'C' => return Err(err(INVALID_ESCAPE, &t[..2])),
            b'Q' => {
                let body = &t[2..];
                let (lit, rest) = match body.find("\\E") {
                    Some(i) => (&body[..i], &body[i + 2..]),
                    None => (body, ""),
                };
                if !lit.is_empty() {
                    frame.push(1);
                }
                return Ok(rest);
            }
            _ => {}
        }
    }
    if let Some(rest) = parse_unicode_class(t)? {
        frame.push(1);
        return Ok(rest);
    }
    if let Some(rest) = parse_perl_class_escape(t) {
        frame.push(1);
        return Ok(rest);
    }
    let rest = parse_escape(t)?.1;
    frame.push(1);
    Ok(rest)
}

/// `\d`, `\D`, `\s`, `\S`, `\w`, `\W`.
fn parse_perl_class_escape(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'\\' {
        return None;
    }
    matches!(b[1], b'd' | b'D' | b's' | b'S' | b'w' | b'W').then(|| &s[2..])
}

/// `\pN`, `\p{Name}`, `\PN`, `\P{^Name}`; `Ok(None)` when `s` is not one.
fn parse_unicode_class(s: &str) -> Result<Option<&str>, SyntaxError> {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'\\' || (b[1] != b'p' && b[1] != b'P') {
        return Ok(None);
    }
    let (c, after) = next_char(&s[2..]);
    let (seq, mut name, rest) = if c != Some('{') {
        let seq = consumed(s, after);
        (seq, &seq[2..], after)
    } else {
        let Some(end) = s.find('}') else {
            return Err(err(INVALID_CHAR_RANGE, s));
        };
        (&s[..=end], &s[3..end], &s[end + 1..])
    };
    if let Some(n) = name.strip_prefix('^') {
        name = n;
    }
    let known = name == "Any"
        || name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !known {
        return Err(err(INVALID_CHAR_RANGE, seq));
    }
    Ok(Some(rest))
}

/// Go's `parseEscape`: one escaped character; returns it and the rest.
fn parse_escape(s: &str) -> Result<(char, &str), SyntaxError> {
    let t = &s[1..];
    let (Some(c), mut t) = next_char(t) else {
        return Err(err(TRAILING_BACKSLASH, ""));
    };
    let invalid = |t: &str| err(INVALID_ESCAPE, consumed(s, t));
    let is_octal = |t: &str| {
        t.as_bytes()
            .first()
            .is_some_and(|b| (b'0'..=b'7').contains(b))
    };
    match c {
        '1'..='7' if !is_octal(t) => Err(invalid(t)),
        '0'..='7' => {
            let mut r = c as u32 - '0' as u32;
            for _ in 1..3 {
                if !is_octal(t) {
                    break;
                }
                r = r * 8 + u32::from(t.as_bytes()[0] - b'0');
                t = &t[1..];
            }
            Ok((char::from_u32(r).unwrap_or('\0'), t))
        }
        'x' => {
            if t.is_empty() {
                return Err(invalid(t));
            }
            let (c, rest) = next_char(t);
            t = rest;
            if c == Some('{') {
                let mut r: u32 = 0;
                let mut nhex = 0;
                loop {
                    let (c, rest) = next_char(t);
                    let Some(c) = c else {
                        return Err(invalid(t));
                    };
                    t = rest;
                    if c == '}' {
                        break;
                    }
                    let Some(v) = c.to_digit(16) else {
                        return Err(invalid(t));
                    };
                    r = r * 16 + v;
                    if r > 0x10FFFF {
                        return Err(invalid(t));
                    }
                    nhex += 1;
                }
                if nhex == 0 {
                    return Err(invalid(t));
                }
                return Ok((char::from_u32(r).unwrap_or('\u{FFFD}'), t));
            }
            let x = c.and_then(|c| c.to_digit(16));
            let (c2, rest) = next_char(t);
            t = rest;
            let y = c2.and_then(|c| c.to_digit(16));
            match (x, y) {
                (Some(x), Some(y)) => Ok((char::from_u32(x * 16 + y).unwrap_or('\0'), t)),
                _ => Err(invalid(t)),
            }
        }
        'a' | 'f' | 'n' | 'r' | 't' | 'v' => Ok((c, t)),
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, t)),
        _ => Err(invalid(t)),
    }
}

const POSIX_CLASSES: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// `[:name:]` inside a class; `Ok(None)` when there is no closing `:]`.
fn parse_named_class(s: &str) -> Result<Option<&str>, SyntaxError> {
    let Some(i) = s[2..].find(":]") else {
        return Ok(None);
    };
    let i = i + 2;
    let name = &s[..i + 2];
    let inner = &name[2..name.len() - 2];
    let inner = inner.strip_prefix('^').unwrap_or(inner);
    if !POSIX_CLASSES.contains(&inner) {
        return Err(err(INVALID_CHAR_RANGE, name));
    }
    Ok(Some(&s[i + 2..]))
}

/// One class member character (possibly escaped); `whole` is the class
/// from its `[` to the end of the pattern, reported when `]` is missing.
fn parse_class_char<'a>(s: &'a str, whole: &str) -> Result<(char, &'a str), SyntaxError> {
    if s.is_empty() {
        return Err(err(MISSING_BRACKET, whole));
    }
    if s.starts_with('\\') {
        return parse_escape(s);
    }
    let (c, rest) = next_char(s);
    Ok((c.expect("non-empty"), rest))
}

/// Go's `parseClass`: returns the text after the closing `]`.
fn parse_class(s: &str) -> Result<&str, SyntaxError> {
    let mut t = &s[1..];
    if let Some(rest) = t.strip_prefix('^') {
        t = rest;
    }
    let mut first = true;
    while t.is_empty() || !t.starts_with(']') || first {
        first = false;
        if t.len() > 2
            && t.starts_with("[:")
            && let Some(rest) = parse_named_class(t)?
        {
            t = rest;
            continue;
        }
        if let Some(rest) = parse_unicode_class(t)? {
            t = rest;
            continue;
        }
        if let Some(rest) = parse_perl_class_escape(t) {
            t = rest;
            continue;
        }
        let range_start = t;
        let (lo, rest) = parse_class_char(t, s)?;
        t = rest;
        let b = t.as_bytes();
        if b.len() >= 2 && b[0] == b'-' && b[1] != b']' {
            let (hi, rest) = parse_class_char(&t[1..], s)?;
            t = rest;
            if hi < lo {
                return Err(err(INVALID_CHAR_RANGE, consumed(range_start, t)));
            }
        }
    }
    Ok(&t[1..])
}

#[cfg(test)]
mod tests {
    use super::check;

    fn msg(p: &str) -> String {
        check(p).unwrap_err().to_string()
    }

    #[test]
    fn accepts_common_patterns() {
        for p in [
            "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            r"^\d{1,3}(\.\d{1,3}){3}$",
            r"(?i)abc",
            r"(?P<name>x)|(?<other>y)",
            r"[[:alpha:]\p{Greek}\pL-]+",
            r"a{,3}",
            r"\Qa.b\E*",
            r"[]a]",
            r"(?:a|b)*?",
            r"x{2}{",
        ] {
            assert_eq!(check(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn reports_like_go() {
        assert_eq!(
            msg("(abc"),
            "error parsing regexp: missing closing ): `(abc`"
        );
        assert_eq!(msg("abc)"), "error parsing regexp: unexpected ): `abc)`");
        assert_eq!(
            msg("*a"),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(
            msg("a|+"),
            "error parsing regexp: missing argument to repetition operator: `+`"
        );
        assert_eq!(
            msg("a**"),
            "error parsing regexp: invalid nested repetition operator: `**`"
        );
        assert_eq!(msg("[a-"), "error parsing regexp: missing closing ]: `[a-`");
        assert_eq!(
            msg("x[z-a]"),
            "error parsing regexp: invalid character class range: `z-a`"
        );
        assert_eq!(
            msg(r"\q"),
            "error parsing regexp: invalid escape sequence: `\\q`"
        );
        assert_eq!(
            msg("a\\"),
            "error parsing regexp: trailing backslash at end of expression: ``"
        );
        assert_eq!(
            msg("a{1001}"),
            "error parsing regexp: invalid repeat count: `{1001}`"
        );
        assert_eq!(
            msg("(a{100}){100}"),
            "error parsing regexp: invalid repeat count: `{100}`"
        );
        assert_eq!(
            msg("(?<=a)"),
            "error parsing regexp: invalid named capture: `(?<=a)`"
        );
        assert_eq!(
            msg("(?!a)"),
            "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"
        );
        assert_eq!(
            msg("[[:foo:]]"),
            "error parsing regexp: invalid character class range: `[:foo:]`"
        );
        assert_eq!(
            msg(r"\p{foo}"),
            "error parsing regexp: invalid character class range: `\\p{foo}`"
        );
    }
}
