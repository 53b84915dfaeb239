//! The tokens of a CEL expression, as the lexer of the CEL grammar
//! (`CEL.g4`, shared by cel-go and cel-rust) cuts them, for [`super::bounds`].
//!
//! Only what decides the shape of the parse is kept: literals, identifiers
//! and keywords collapse to a few kinds; whitespace and `//` comments are
//! dropped. String literals (quoted `"…"`/`'…'`, triple-quoted, raw `r"…"`,
//! bytes `b"…"`, with their escapes) are single tokens, so brackets and
//! operators inside them never count.
//!
//! Invariant: when [`tokenize`] returns `Ok`, the tokens are exactly the
//! ones ANTLR's generated lexer produces (longest match, earlier rule first
//! on a tie). Anything that lexer would report as a token recognition error
//! makes it return `Err`: ANTLR then skips characters and lexes the rest,
//! possibly out of the inside of a broken string, so the caller must not
//! trust any structure read from such an input.

/// A token kind. Literals and identifiers carry no text: the bounds only
/// need the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `IDENTIFIER` (reserved words included: they are identifiers to the
    /// lexer).
    Ident,
    /// `` `a.b` ``, only valid as a field name.
    EscIdent,
    /// `NUM_INT` or `NUM_FLOAT`: may follow a `-` as a signed literal.
    SignableNumber,
    /// `NUM_UINT`, `STRING`, `BYTES`, `true`, `false`, `null`.
    Literal,
    In,
    /// `==` `!=` `<` `<=` `>=` `>`.
    Relation,
    /// `+` and `-` (binary or unary minus).
    Plus,
    Minus,
    /// `*` `/` `%`.
    Mul,
    And,
    Or,
    Not,
    Question,
    Colon,
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
}

/// Cuts `src` into tokens, or `Err(())` on any lexical error.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Tok>, ()> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let (tok, len) = match c {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0c => {
                i += 1;
                continue;
            }
            b'/' if next == Some(b'/') => {
                i = src[i..].find('\n').map_or(b.len(), |n| i + n);
                continue;
            }
            b'=' if next == Some(b'=') => (Tok::Relation, 2),
            b'!' if next == Some(b'=') => (Tok::Relation, 2),
            b'<' | b'>' if next == Some(b'=') => (Tok::Relation, 2),
            b'<' | b'>' => (Tok::Relation, 1),
            b'&' if next == Some(b'&') => (Tok::And, 2),
            b'|' if next == Some(b'|') => (Tok::Or, 2),
            b'!' => (Tok::Not, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'*' | b'/' | b'%' => (Tok::Mul, 1),
            b'?' => (Tok::Question, 1),
            b':' => (Tok::Colon, 1),
            b',' => (Tok::Comma, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'[' => (Tok::LBracket, 1),
            b']' => (Tok::RBracket, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b'.' => match number(&b[i..]) {
                Some(n) => n,
                None => (Tok::Dot, 1),
            },
            b'0'..=b'9' => number(&b[i..]).ok_or(())?,
            b'"' | b'\'' => (Tok::Literal, string(&b[i..]).ok_or(())?),
            b'`' => (Tok::EscIdent, escaped_ident(&b[i..]).ok_or(())?),
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let ident = b[i..]
                    .iter()
                    .take_while(|c| **c == b'_' || c.is_ascii_alphanumeric())
                    .count();
                match prefixed_string(&b[i..]) {
                    // A string needs its quote right after the prefix; it is
                    // then longer than the identifier the prefix would be.
                    Some(n) => (Tok::Literal, n),
                    None if is_string_prefix(&b[i..i + ident]) && quote_follows(b, i + ident) => {
                        // `r"unterminated`: the lexer falls back to the
                        // identifier, then fails on the quote.
                        return Err(());
                    }
                    None => (keyword(&b[i..i + ident]), ident),
                }
            }
            _ => return Err(()),
        };
        out.push(tok);
        i += len;
    }
    Ok(out)
}

fn keyword(word: &[u8]) -> Tok {
    match word {
        b"in" => Tok::In,
        b"true" | b"false" | b"null" => Tok::Literal,
        _ => Tok::Ident,
    }
}

fn is_string_prefix(word: &[u8]) -> bool {
    matches!(
        word,
        b"r" | b"R" | b"b" | b"B" | b"br" | b"bR" | b"Br" | b"BR"
    )
}

fn quote_follows(b: &[u8], at: usize) -> bool {
    matches!(b.get(at), Some(b'"' | b'\''))
}

/// The length of the longest numeric literal at the start of `b`
/// (`NUM_FLOAT`, `NUM_UINT`, `NUM_INT`), or `None` when there is none.
fn number(b: &[u8]) -> Option<(Tok, usize)> {
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let exponent = |from: usize| -> usize {
        if !matches!(b.get(from), Some(b'e' | b'E')) {
            return 0;
        }
        let sign = usize::from(matches!(b.get(from + 1), Some(b'+' | b'-')));
        match digits(from + 1 + sign) {
            0 => 0,
            n => 1 + sign + n,
        }
    };
    if b[0] == b'.' {
        let frac = digits(1);
        return (frac > 0).then(|| (Tok::SignableNumber, 1 + frac + exponent(1 + frac)));
    }
    if b[0] == b'0' && matches!(b.get(1), Some(b'x')) {
        let hex = b[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if hex > 0 {
            let end = 2 + hex;
            return Some(match b.get(end) {
                Some(b'u' | b'U') => (Tok::Literal, end + 1),
                _ => (Tok::SignableNumber, end),
            });
        }
    }
    let int = digits(0);
    if int == 0 {
        return None;
    }
    if b.get(int) == Some(&b'.') {
        let frac = digits(int + 1);
        if frac > 0 {
            let end = int + 1 + frac;
            return Some((Tok::SignableNumber, end + exponent(end)));
        }
    }
    let exp = exponent(int);
    if exp > 0 {
        return Some((Tok::SignableNumber, int + exp));
    }
    Some(match b.get(int) {
        Some(b'u' | b'U') => (Tok::Literal, int + 1),
        _ => (Tok::SignableNumber, int),
    })
}

/// The length of a string or bytes literal with an `r`/`b` prefix at the
/// start of `b`.
fn prefixed_string(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    if matches!(b.first(), Some(b'b' | b'B')) {
        i += 1;
    }
    let raw = matches!(b.get(i), Some(b'r' | b'R'));
    if raw {
        i += 1;
    }
    if i == 0 || !quote_follows(b, i) {
        return None;
    }
    let len = if raw {
        raw_string(&b[i..])?
    } else {
        string(&b[i..])?
    };
    Some(i + len)
}

/// The length of a quoted (not raw) string literal starting at `b[0]`, a
/// quote.
fn string(b: &[u8]) -> Option<usize> {
    let q = b[0];
    if b.len() >= 3 && b[1] == q && b[2] == q {
        // Triple-quoted: anything but a backslash that does not start an
        // escape, up to the first closing triple quote.
        let mut i = 3;
        while i < b.len() {
            if b[i] == b'\\' {
                i += escape(&b[i..])?;
            } else if b[i] == q && b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
                return Some(i + 3);
            } else {
                i += 1;
            }
        }
        return None;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += escape(&b[i..])?,
            b'\n' | b'\r' => return None,
            c if c == q => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The length of a raw string literal starting at `b[0]`, a quote: no
/// escapes at all.
fn raw_string(b: &[u8]) -> Option<usize> {
    let q = b[0];
    if b.len() >= 3 && b[1] == q && b[2] == q {
        let rest = &b[3..];
        let end = rest.windows(3).position(|w| w == [q, q, q])?;
        return Some(3 + end + 3);
    }
    let end = b[1..]
        .iter()
        .position(|c| *c == q || *c == b'\n' || *c == b'\r')?;
    (b[1 + end] == q).then_some(end + 2)
}

/// The length of the escape sequence at `b[0]` (a backslash), if valid.
fn escape(b: &[u8]) -> Option<usize> {
    let hex = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|s| s.iter().all(u8::is_ascii_hexdigit))
    };
    match b.get(1)? {
        b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'"' | b'\'' | b'\\' | b'?' | b'`' => {
            Some(2)
        }
        b'0'..=b'3' => b
            .get(2..4)
            .is_some_and(|s| s.iter().all(|c| (b'0'..=b'7').contains(c)))
            .then_some(4),
        b'x' | b'X' => hex(2, 2).then_some(4),
        b'u' => hex(2, 4).then_some(6),
        b'U' => hex(2, 8).then_some(10),
        _ => None,
    }
}

/// The length of `` `name` `` at `b[0]`, a backtick.
fn escaped_ident(b: &[u8]) -> Option<usize> {
    let inner = b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/' | b' '))
        .count();
    (inner > 0 && b.get(1 + inner) == Some(&b'`')).then_some(inner + 2)
}

#[cfg(test)]
mod tests {
    use super::Tok::*;
    use super::*;

    #[test]
    fn strings_comments_and_numbers_are_single_tokens() {
        let cases: &[(&str, &[Tok])] = &[
            ("'(('", &[Literal]),
            ("\"a\\\"((\" + 1", &[Literal, Plus, SignableNumber]),
            ("'''x ' '' \\''' ((('''", &[Literal]),
            ("\"\"\"a\nb\"\"\"", &[Literal]),
            (
                "r'\\' + b'\\x00' + br\"(\" + R'''\\'''",
                &[Literal, Plus, Literal, Plus, Literal, Plus, Literal],
            ),
            ("a // ((( [[[\n.b", &[Ident, Dot, Ident]),
            (
                "1.5e3 + .5 + 0x1Fu + 7u + 1e-2",
                &[
                    SignableNumber,
                    Plus,
                    SignableNumber,
                    Plus,
                    Literal,
                    Plus,
                    Literal,
                    Plus,
                    SignableNumber,
                ],
            ),
            ("1.x", &[SignableNumber, Dot, Ident]),
            (
                "r + in + inx + `a.b-c`",
                &[Ident, Plus, In, Plus, Ident, Plus, EscIdent],
            ),
            (
                "a<=b!=c>d==e&&f||!g",
                &[
                    Ident, Relation, Ident, Relation, Ident, Relation, Ident, Relation, Ident, And,
                    Ident, Or, Not, Ident,
                ],
            ),
            ("''", &[Literal]),
        ];
        for (src, want) in cases {
            assert_eq!(tokenize(src).as_deref(), Ok(*want), "{src}");
        }
    }

    #[test]
    fn lexical_errors_are_reported() {
        for src in [
            "'abc",
            "'a\nb'",
            "'\\q'",
            "\"\"\"abc",
            "r'abc",
            "a = b",
            "a & b",
            "#",
            "é",
            "``",
            "'\\x0'",
        ] {
            assert_eq!(tokenize(src), Err(()), "{src}");
        }
    }
}
