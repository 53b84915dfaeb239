//! `kubectl ws use <path>` (also `kubectl ws <path>`) and `kubectl ws
//! current` (also `kubectl ws .`): resolve the argument, check that the
//! target workspace exists and may be entered, rewrite the kubeconfig, and
//! report the current workspace in kcp's words.

use anyhow::{anyhow, bail};

use super::client::{Conn, status_code};
use super::kubeconfig;
use super::path::{
    self, CD_SEMANTICS_NOTE, ClusterPath, LEGACY_ROOT_NOTE, PathError, ROOT, Target,
    split_workspace_url, workspace_url,
};
use super::session::Session;
use super::workspace::{self, TypeRef};

/// kcp's report of the current workspace for server URL `host`; `None`
/// when there is nothing to print (`--short` and no workspace URL).
pub fn current_message(host: &str, short: bool, ty: Option<&TypeRef>) -> Option<String> {
    match split_workspace_url(host) {
        None => (!short).then(|| format!("Current workspace is the URL {host:?}.")),
        Some((_, path)) if short => Some(path.to_string()),
        Some((_, path)) => {
            let mut message = format!("Current workspace is '{path}'");
            if let Some(t) = ty {
                message.push_str(&format!(" (type {t})"));
            }
            message.push('.');
            Some(message)
        }
    }
}

fn print_current(host: &str, short: bool, ty: Option<&TypeRef>) {
    if let Some(message) = current_message(host, short, ty) {
        println!("{message}");
    }
}

/// `kubectl ws current`.
pub fn run_current(sess: &Session, short: bool) -> anyhow::Result<()> {
    print_current(&sess.host()?, short, None);
    Ok(())
}

/// `kubectl ws use <arg>`.
pub async fn run_use(sess: &Session, arg: &str, short: bool) -> anyhow::Result<()> {
    let merged = &sess.files.merged;
    if kubeconfig::context(merged, &sess.context).is_none() {
        bail!("current {:?} context not found", sess.context);
    }
    let host = sess.host();
    let current = host.as_ref().ok().and_then(|h| split_workspace_url(h));
    let user_home = std::env::var("HOME").ok();
    // Trellis has no per-user home workspaces: `~` is `root`.
    let home = ClusterPath::root();
    let resolution = match path::resolve(
        arg,
        current.as_ref().map(|(_, p)| p),
        &home,
        user_home.as_deref(),
    ) {
        Ok(r) => r,
        Err(PathError::NoCurrentWorkspace) => {
            let host = host?;
            bail!("current URL {host:?} does not point to a workspace");
        }
        Err(e) => return Err(e.into()),
    };
    if resolution.legacy_root_note {
        eprintln!("{LEGACY_ROOT_NOTE}");
    }
    match resolution.target {
        Target::Previous => {
            let edit = kubeconfig::swap_previous(merged, &sess.context)?;
            sess.save(&edit)?;
            let mut after = merged.clone();
            edit.apply(&mut after);
            let server = kubeconfig::current_server(&after).unwrap_or_default();
            print_current(server, short, None);
        }
        Target::Current => print_current(&host?, short, None),
        Target::Path { path, verify } => {
            let (base, _) = current.ok_or_else(|| anyhow!("no current workspace"))?;
            let ty = if verify {
                let conn = sess.connect(&base).await?;
                check_access(&conn, &path).await?
            } else {
                None
            };
            let url = workspace_url(&base, &path);
            let edit = kubeconfig::switch_to(merged, &sess.context, &url)?;
            sess.save(&edit)?;
            print_current(&url, short, ty.as_ref());
        }
    }
    if resolution.cd_note {
        eprintln!("{CD_SEMANTICS_NOTE}");
    }
    Ok(())
}

/// Checks that the workspace at `path` exists and may be entered, and
/// returns its type when the parent tells it (kcp's checks: access via the
/// workspace itself, existence via the Workspace object in the parent).
async fn check_access(conn: &Conn, path: &ClusterPath) -> anyhow::Result<Option<TypeRef>> {
    let denied = match conn.get(&workspace::logical_cluster_url(path)).await {
        Ok(_) => false,
        Err(e) if matches!(status_code(&e), Some(403 | 404)) => true,
        Err(e) => return Err(e),
    };
    let mut not_found = false;
    let mut ty = None;
    if path.as_str() == ROOT {
        ty = Some(TypeRef {
            name: ROOT.to_string(),
            path: String::new(),
        });
    } else {
        let (parent, name) = path.split();
        if !parent.is_empty() && !name.is_empty() {
            // A 403 on the parent does not block entering; only 404 counts.
            match conn.get(&workspace::workspace_url(&parent, name)).await {
                Ok(ws) => ty = TypeRef::of(&ws),
                Err(e) if status_code(&e) == Some(404) => not_found = true,
                Err(_) => {}
            }
        }
    }
    match (denied, not_found) {
        (true, true) => bail!("workspace {:?} not found", path.as_str()),
        (true, false) => bail!("access to workspace {:?} denied", path.as_str()),
        _ => Ok(ty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let ty = TypeRef::parse("root:universal");
        assert_eq!(
            current_message("https://h/clusters/root:org", false, Some(&ty)).unwrap(),
            "Current workspace is 'root:org' (type root:universal)."
        );
        assert_eq!(
            current_message("https://h/clusters/root:org", false, None).unwrap(),
            "Current workspace is 'root:org'."
        );
        assert_eq!(
            current_message("https://h/clusters/root:org", true, Some(&ty)).unwrap(),
            "root:org"
        );
        assert_eq!(
            current_message("https://test", false, None).unwrap(),
            "Current workspace is the URL \"https://test\"."
        );
        assert_eq!(current_message("https://test", true, None), None);
        let root = TypeRef {
            name: "root".into(),
            path: String::new(),
        };
        assert_eq!(
            current_message("https://h/clusters/root", false, Some(&root)).unwrap(),
            "Current workspace is 'root' (type root)."
        );
    }
}
