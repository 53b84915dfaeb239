//! `--token-auth-file`: static bearer tokens in Kubernetes' CSV format.
//!
//! One user per line: `token,user,uid[,"group1,group2"]`; further columns
//! are ignored, blank lines and lines starting with `#` are skipped, fields
//! may be quoted (`""` inside quotes is a quote). This mirrors upstream's
//! `tokenfile` authenticator (Go's `encoding/csv` with `TrimLeadingSpace`),
//! with two deliberate differences: a quoted field may not span lines, and
//! empty group names are dropped instead of kept.
//!
//! The file is read once at start-up; a malformed line is a start-up error
//! naming the line, because a half-read token file would silently lock
//! users out (or in). As upstream, an empty token skips its line and a
//! repeated token keeps the last line (both with a warning).

use std::path::Path;

use super::UserInfo;

/// A token and the user it authenticates.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub token: String,
    pub user: UserInfo,
}

/// Reads and parses a token file.
pub fn load(path: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading token file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("token file {}: {e}", path.display()))
}

/// Parses the file's contents.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut out: Vec<Entry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_csv(line).map_err(|e| format!("line {n}: {e}"))?;
        if fields.len() < 3 {
            return Err(format!(
                "line {n}: must have at least 3 columns (token, user name, user uid), found {}",
                fields.len()
            ));
        }
        let token = fields[0].clone();
        if token.is_empty() {
            tracing::warn!(line = n, "token file: empty token, line skipped");
            continue;
        }
        let groups = fields
            .get(3)
            .map(|g| {
                g.split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let user = UserInfo {
            name: fields[1].clone(),
            uid: fields[2].clone(),
            groups,
            extra: Default::default(),
        };
        if let Some(prev) = out.iter_mut().find(|e| e.token == token) {
            tracing::warn!(line = n, "token file: duplicate token, the later line wins");
            prev.user = user;
        } else {
            out.push(Entry { token, user });
        }
    }
    Ok(out)
}

/// Splits one CSV record (RFC 4180 quoting, leading spaces trimmed).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') || chars.peek() == Some(&'\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted field".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected {c:?} after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        break;
                    }
                    Some('"') => return Err("bare \" in an unquoted field".into()),
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_token_files() {
        let text = "# comment\n\
                    t1,alice,uid-1,\"devs,ops\"\n\
                    \n\
                    t2,bob,uid-2\r\n\
                    t3, carol ,uid-3,single,ignored-extra\n\
                    \"t,4\",\"da\"\"ve\",,\"\"\n";
        let e = parse(text).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].token, "t1");
        assert_eq!(e[0].user.name, "alice");
        assert_eq!(e[0].user.uid, "uid-1");
        assert_eq!(e[0].user.groups, ["devs", "ops"]);
        assert_eq!(e[1].user.name, "bob");
        assert!(e[1].user.groups.is_empty());
        // Leading spaces go (as Go's TrimLeadingSpace), trailing ones stay.
        assert_eq!(e[2].user.name, "carol ");
        assert_eq!(e[2].user.groups, ["single"]);
        assert_eq!(e[3].token, "t,4");
        assert_eq!(e[3].user.name, "da\"ve");
        assert!(e[3].user.groups.is_empty());
    }

    #[test]
    fn bad_lines_name_their_line_number() {
        let err = parse("t1,alice,1\nt2,bob\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("at least 3 columns"),
            "{err}"
        );
        let err = parse("# x\n\"t1,alice,1\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("unterminated"),
            "{err}"
        );
        let err = parse("t\"1,alice,1\n").unwrap_err();
        assert!(err.contains("line 1") && err.contains("bare"), "{err}");
        let err = parse("\"t1\"x,alice,1\n").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn empty_tokens_are_skipped_and_duplicates_keep_the_last() {
        let e = parse(",nobody,0\nt,first,1\nt,second,2\n").unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].user.name, "second");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let err = load(Path::new("/nonexistent/tokens.csv")).unwrap_err();
        assert!(err.contains("/nonexistent/tokens.csv"), "{err}");
    }
}
