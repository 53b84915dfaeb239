//! Workspace paths (`root:org:team`) and kcp's rules for turning the argument
//! of `kubectl ws use` into an absolute path, given the current workspace.
//!
//! The rules follow kcp's plugin: `:`-prefixed arguments are absolute,
//! anything else is relative to the current workspace; `.` and `..` segments
//! are resolved; `/` is accepted as a separator; the legacy `root:…` form is
//! treated as absolute (with a note); `-` is the previous workspace, `.` the
//! current one, `:` the root of the current path and `~` the home workspace.
//! Trellis has no per-user home workspaces, so `~` is the `root` workspace.

use std::fmt;

/// The root workspace's path.
pub const ROOT: &str = "root";

/// Note printed when `root:…` is used as an absolute path (kcp's wording).
pub const LEGACY_ROOT_NOTE: &str = "Note: Using 'root:' to define an absolute path is no longer supported. Instead, use ':root' to specify an absolute path.";

/// Note printed after `kubectl ws` without arguments (kcp's wording).
pub const CD_SEMANTICS_NOTE: &str = "Note: 'kubectl ws' now matches 'cd' semantics: go to home workspace. 'kubectl ws -' to go back. 'kubectl ws .' to print current workspace.";

/// A colon-separated workspace path, or a logical-cluster name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterPath(String);

impl ClusterPath {
    pub fn new(value: impl Into<String>) -> Self {
        ClusterPath(value.into())
    }

    /// The `root` workspace.
    pub fn root() -> Self {
        ClusterPath::new(ROOT)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits off the last segment: `root:org` → (`root`, `org`). A path
    /// without a colon has an empty parent; `system:…` names are atomic.
    pub fn split(&self) -> (ClusterPath, &str) {
        if self.0.starts_with("system:") {
            return (self.clone(), "");
        }
        match self.0.rfind(':') {
            Some(i) => (ClusterPath::new(&self.0[..i]), &self.0[i + 1..]),
            None => (ClusterPath::default(), &self.0),
        }
    }

    /// The parent path, if there is one.
    pub fn parent(&self) -> Option<ClusterPath> {
        let (parent, _) = self.split();
        (!parent.is_empty()).then_some(parent)
    }

    /// Appends a segment (or a colon-separated relative path).
    pub fn join(&self, name: &str) -> ClusterPath {
        if self.0.is_empty() {
            ClusterPath::new(name)
        } else {
            ClusterPath::new(format!("{}:{name}", self.0))
        }
    }

    /// The top-most ancestor (`root` for `root:org:team`).
    pub fn top(&self) -> ClusterPath {
        let mut current = self.clone();
        while let Some(parent) = current.parent() {
            if parent == current {
                break;
            }
            current = parent;
        }
        current
    }

    /// Whether every segment is a DNS label (`[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`),
    /// or the path is the wildcard `*`.
    pub fn is_valid(&self) -> bool {
        self.0 == "*" || self.0.split(':').all(is_segment)
    }

    /// The URL path prefix of the workspace: `/clusters/<path>`.
    pub fn request_path(&self) -> String {
        format!("/clusters/{}", self.0)
    }
}

impl fmt::Display for ClusterPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_segment(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && alnum(&b[0])
        && alnum(&b[b.len() - 1])
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// Splits a server URL into its base (everything before `/clusters/`) and
/// the workspace path after it, like kcp's `ParseClusterURL`. `None` if the
/// URL does not point to a workspace.
pub fn split_workspace_url(url: &str) -> Option<(String, ClusterPath)> {
    let scheme_end = url.find("://")? + 3;
    let path_start = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let path_end = url[path_start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| path_start + i);
    let path = &url[path_start..path_end];
    let idx = path.find("/clusters/")?;
    let rest = &path[idx + "/clusters/".len()..];
    let cluster = ClusterPath::new(rest.split('/').next().unwrap_or_default());
    if !cluster.is_valid() {
        return None;
    }
    let base = format!("{}{}", &url[..path_start], &path[..idx]);
    Some((base, cluster))
}

/// The server URL of workspace `path` under `base` (kcp joins the paths).
pub fn workspace_url(base: &str, path: &ClusterPath) -> String {
    format!("{}{}", base.trim_end_matches('/'), path.request_path())
}

/// What a `kubectl ws use` argument refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `-`: swap with the previous workspace.
    Previous,
    /// `.`: print the current workspace.
    Current,
    /// An absolute path. `verify` is false for `:` (the current root), which
    /// kcp enters without checking.
    Path { path: ClusterPath, verify: bool },
}

/// A resolved argument plus the notes to print on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub target: Target,
    /// Print [`LEGACY_ROOT_NOTE`] (before switching).
    pub legacy_root_note: bool,
    /// Print [`CD_SEMANTICS_NOTE`] (after a successful switch).
    pub cd_note: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The argument needs the current workspace, but the current server URL
    /// does not point to one.
    NoCurrentWorkspace,
    /// `..` above the top of the path.
    AboveRoot,
    /// The resolved path is not a valid workspace path.
    Invalid(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NoCurrentWorkspace => {
                f.write_str("current URL does not point to a workspace")
            }
            PathError::AboveRoot => f.write_str("cannot go up from root"),
            PathError::Invalid(arg) => write!(f, "invalid workspace path: {arg}"),
        }
    }
}

impl std::error::Error for PathError {}

/// Resolves the argument of `kubectl ws use` (kcp's rules).
///
/// `current` is the current workspace (if the current server URL points to
/// one), `home` the home workspace (always `root` in Trellis) and
/// `user_home_dir` the user's `$HOME`, so that a shell-expanded `~/x`
/// (`/home/me/x`) still means `~:x`.
pub fn resolve(
    arg: &str,
    current: Option<&ClusterPath>,
    home: &ClusterPath,
    user_home_dir: Option<&str>,
) -> Result<Resolution, PathError> {
    let mut name = arg.to_string();
    if let Some(dir) = user_home_dir.filter(|d| !d.is_empty())
        && let Some(rest) = name.strip_prefix(dir)
    {
        name = format!("~{rest}");
    }
    name = name.replace('/', ":");
    let mut res = Resolution {
        target: Target::Current,
        legacy_root_note: false,
        cd_note: false,
    };
    if name == ROOT || name.starts_with("root:") {
        name = format!(":{name}");
        res.legacy_root_note = true;
    }
    if name.is_empty() {
        name = "~".to_string();
        res.cd_note = true;
    }
    match name.as_str() {
        "-" => {
            res.target = Target::Previous;
            return Ok(res);
        }
        "." => {
            res.target = Target::Current;
            return Ok(res);
        }
        ":" => {
            let current = current.ok_or(PathError::NoCurrentWorkspace)?;
            res.target = Target::Path {
                path: current.top(),
                verify: false,
            };
            return Ok(res);
        }
        _ => {}
    }
    if let Some(rest) = name.strip_prefix('~')
        && (rest.is_empty() || rest.starts_with(':'))
    {
        name = format!(":{home}{rest}");
    }
    let current = current.ok_or(PathError::NoCurrentWorkspace)?;
    let absolute = match name.strip_prefix(':') {
        Some(abs) => abs.to_string(),
        None => current.join(&name).to_string(),
    };
    let path = resolve_dots(&absolute)?;
    if !path.is_valid() {
        return Err(PathError::Invalid(arg.to_string()));
    }
    res.target = Target::Path { path, verify: true };
    Ok(res)
}

/// Removes `.` segments and applies `..` segments.
fn resolve_dots(path: &str) -> Result<ClusterPath, PathError> {
    let mut ret = ClusterPath::default();
    for part in path.split(':') {
        match part {
            "." => {}
            ".." => {
                if ret.is_empty() {
                    return Err(PathError::AboveRoot);
                }
                ret = ret.parent().unwrap_or_default();
            }
            _ => ret = ret.join(part),
        }
    }
    Ok(ret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ClusterPath {
        ClusterPath::new(s)
    }

    fn go(arg: &str, current: &str) -> Result<Resolution, PathError> {
        resolve(
            arg,
            Some(&p(current)),
            &ClusterPath::root(),
            Some("/home/me"),
        )
    }

    fn path_of(arg: &str, current: &str) -> String {
        match go(arg, current).expect("resolves").target {
            Target::Path { path, .. } => path.to_string(),
            other => panic!("{arg}: not a path: {other:?}"),
        }
    }

    #[test]
    fn relative_names_join_the_current_workspace() {
        assert_eq!(path_of("org", "root"), "root:org");
        assert_eq!(path_of("bar", "root:foo"), "root:foo:bar");
        assert_eq!(path_of("bar:baz", "root:foo"), "root:foo:bar:baz");
        assert_eq!(path_of("bar/baz", "root:foo"), "root:foo:bar:baz");
    }

    #[test]
    fn absolute_paths() {
        let r = go(":root:org", "root:a").unwrap();
        assert!(!r.legacy_root_note);
        assert_eq!(
            r.target,
            Target::Path {
                path: p("root:org"),
                verify: true
            }
        );
        assert_eq!(path_of(":system:admin", "root:foo"), "system:admin");
    }

    #[test]
    fn legacy_root_form_is_absolute_with_a_note() {
        let r = go("root:org:team", "root:x").unwrap();
        assert!(r.legacy_root_note);
        assert_eq!(
            r.target,
            Target::Path {
                path: p("root:org:team"),
                verify: true
            }
        );
        assert_eq!(path_of("root", "root:foo"), "root");
    }

    #[test]
    fn dots() {
        assert_eq!(path_of("..", "root:foo:bar"), "root:foo");
        assert_eq!(path_of("..", "root:foo"), "root");
        assert_eq!(path_of("..:..", "root:foo:bar:baz"), "root:foo");
        assert_eq!(path_of("../..", "root:foo:bar:baz"), "root:foo");
        assert_eq!(
            path_of("bar:..:bar:baz:..:baz", "root:foo"),
            "root:foo:bar:baz"
        );
        assert_eq!(path_of(".:bar:.:.:baz:.", "root:foo"), "root:foo:bar:baz");
    }

    #[test]
    fn dot_dot_at_root_is_an_error() {
        // kcp: the parent of `root` is the empty path, which is invalid.
        assert_eq!(go("..", "root"), Err(PathError::Invalid("..".into())));
        assert_eq!(go(":..", "root"), Err(PathError::AboveRoot));
        assert_eq!(go("../../..", "root:a"), Err(PathError::AboveRoot));
    }

    #[test]
    fn previous_and_current() {
        assert_eq!(go("-", "root").unwrap().target, Target::Previous);
        assert_eq!(go(".", "root").unwrap().target, Target::Current);
        // Neither needs the current URL to point to a workspace.
        let none = resolve("-", None, &ClusterPath::root(), None).unwrap();
        assert_eq!(none.target, Target::Previous);
    }

    #[test]
    fn home_is_root_in_trellis() {
        assert_eq!(path_of("~", "root:foo"), "root");
        assert_eq!(path_of("~:a:b", "root:foo"), "root:a:b");
        assert_eq!(path_of("~/a", "root:foo"), "root:a");
        // A shell-expanded ~ (the user's $HOME) means ~ too.
        assert_eq!(path_of("/home/me", "root:foo"), "root");
        assert_eq!(path_of("/home/me/a", "root:foo"), "root:a");
        // `~x` is just a (invalid) relative name.
        assert!(matches!(go("~x", "root"), Err(PathError::Invalid(_))));
    }

    #[test]
    fn empty_argument_goes_home_with_a_note() {
        let r = go("", "root:foo").unwrap();
        assert!(r.cd_note);
        assert_eq!(
            r.target,
            Target::Path {
                path: p("root"),
                verify: true
            }
        );
    }

    #[test]
    fn colon_is_the_current_root_without_verification() {
        let r = go(":", "root:foo:bar").unwrap();
        assert_eq!(
            r.target,
            Target::Path {
                path: p("root"),
                verify: false
            }
        );
        let r = go(":", "my-root:foo").unwrap();
        assert_eq!(
            r.target,
            Target::Path {
                path: p("my-root"),
                verify: false
            }
        );
    }

    #[test]
    fn invalid_paths() {
        assert_eq!(
            go("ju:nk§", "root:foo"),
            Err(PathError::Invalid("ju:nk§".into()))
        );
        assert!(matches!(go("Upper", "root"), Err(PathError::Invalid(_))));
        assert!(matches!(go("a::b", "root"), Err(PathError::Invalid(_))));
        assert!(matches!(go("-x-", "root"), Err(PathError::Invalid(_))));
    }

    #[test]
    fn relative_needs_a_current_workspace() {
        let home = ClusterPath::root();
        assert_eq!(
            resolve("org", None, &home, None),
            Err(PathError::NoCurrentWorkspace)
        );
        assert_eq!(
            resolve("..", None, &home, None),
            Err(PathError::NoCurrentWorkspace)
        );
        assert_eq!(
            resolve(":", None, &home, None),
            Err(PathError::NoCurrentWorkspace)
        );
    }

    #[test]
    fn path_helpers() {
        assert_eq!(p("root:org:team").split(), (p("root:org"), "team"));
        assert_eq!(p("root").split(), (p(""), "root"));
        assert_eq!(p("root").parent(), None);
        assert_eq!(p("system:admin").split(), (p("system:admin"), ""));
        assert_eq!(p("root:org:team").top(), p("root"));
        assert!(p("root:a-b:c1").is_valid());
        assert!(!p("").is_valid());
        assert!(!p(&"a".repeat(64)).is_valid());
        assert!(p(&"a".repeat(63)).is_valid());
    }

    #[test]
    fn workspace_urls() {
        assert_eq!(
            split_workspace_url("https://127.0.0.1:6443/clusters/root:org"),
            Some(("https://127.0.0.1:6443".into(), p("root:org")))
        );
        assert_eq!(
            split_workspace_url("https://h/prefix/clusters/root/api/v1?x=1"),
            Some(("https://h/prefix".into(), p("root")))
        );
        assert_eq!(split_workspace_url("https://test"), None);
        assert_eq!(split_workspace_url("https://test/"), None);
        assert_eq!(split_workspace_url("https://h/clusters/Bad"), None);
        assert_eq!(
            workspace_url("https://h:1", &p("root:a")),
            "https://h:1/clusters/root:a"
        );
        assert_eq!(
            workspace_url("https://h/pre/", &p("root")),
            "https://h/pre/clusters/root"
        );
    }
}
