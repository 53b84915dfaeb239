//! `kubectl ws create NAME [--type T] [--enter] [--ignore-existing]`:
//! creates a child Workspace of the current workspace, waits until it is
//! Ready and optionally enters it — with kcp's messages.

use std::time::Duration;

use anyhow::bail;
use serde_json::Value;

use super::client::{Conn, is_already_exists, status_code};
use super::path::{ClusterPath, ROOT};
use super::session::Session;
use super::switch;
use super::workspace::{self, TypeRef};

/// How long to wait for a new workspace to become Ready (kcp's default).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a created workspace to become visible.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(clap::Args, Clone, Debug)]
pub struct CreateArgs {
    /// Name of the workspace to create.
    pub name: String,
    /// A workspace type (`name` or `path:name`). The default type depends on
    /// where this child workspace is created.
    #[arg(long = "type", value_name = "TYPE")]
    pub ty: Option<String>,
    /// Immediately enter the created workspace.
    #[arg(long)]
    pub enter: bool,
    /// Ignore if the workspace already exists. Requires none or absolute type
    /// path.
    #[arg(long)]
    pub ignore_existing: bool,
}

/// Whether an existing workspace's type differs from the requested one
/// (a requested type without a path matches any path).
fn type_mismatch(existing: &TypeRef, requested: &TypeRef) -> bool {
    existing.name != requested.name
        || (!requested.path.is_empty() && existing.path != requested.path)
}

pub async fn run_create(sess: &Session, args: &CreateArgs) -> anyhow::Result<()> {
    let (base, current) =
        sess.workspace(|host| format!("current URL {host:?} does not point to a workspace"))?;
    let requested = args
        .ty
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(TypeRef::parse);
    if args.ignore_existing
        && let Some(t) = args.ty.as_deref().filter(|t| !t.is_empty())
        && !t.starts_with(ROOT)
    {
        bail!("--ignore-existing must not be used with non-absolute type path");
    }
    let conn = sess.connect(&base).await?;
    let name = args.name.as_str();
    let body = workspace::new_workspace(name, requested.as_ref());
    let mut pre_existing = false;
    let mut ws = match conn.post(&workspace::workspaces_url(&current), &body).await {
        Ok(ws) => ws,
        Err(e) if args.ignore_existing && is_already_exists(&e) => {
            pre_existing = true;
            conn.get(&workspace::workspace_url(&current, name)).await?
        }
        Err(e) => return Err(e),
    };

    let ty = TypeRef::of(&ws)
        .or_else(|| requested.clone())
        .unwrap_or_default();
    let reference = format!("Workspace {name:?} (type {ty})");
    let ready = workspace::is_ready(&ws);
    if pre_existing {
        if let Some(req) = &requested
            && type_mismatch(&ty, req)
        {
            bail!(
                "workspace {name:?} cannot be created with type {req}, it already exists with different type {ty}"
            );
        }
        if ready {
            println!("{reference} already exists.");
        } else {
            println!("{reference} already exists. Waiting for it to be ready...");
        }
    } else if !ready {
        println!("{reference} created. Waiting for it to be ready...");
    }

    wait_visible(&conn, &current, name).await?;
    if !ready {
        ws = wait_ready(&conn, &current, name).await?;
    }
    println!("{reference} is ready to use.");

    if args.enter {
        let name = match workspace::name(&ws) {
            "" => name,
            n => n,
        };
        let target = format!(":{}", current.join(name));
        return switch::run_use(sess, &target, false).await;
    }
    Ok(())
}

/// Polls until the workspace can be read back (it may lag behind the create).
async fn wait_visible(conn: &Conn, parent: &ClusterPath, name: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + VISIBLE_TIMEOUT;
    loop {
        match conn.get(&workspace::workspace_url(parent, name)).await {
            Ok(_) => return Ok(()),
            Err(e) if status_code(&e) == Some(404) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until the workspace's phase is Ready.
async fn wait_ready(conn: &Conn, parent: &ClusterPath, name: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let ws = conn.get(&workspace::workspace_url(parent, name)).await?;
        if workspace::is_ready(&ws) {
            return Ok(ws);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "timed out after {}s waiting for workspace {name:?} to be ready (phase {:?})",
                READY_TIMEOUT.as_secs(),
                workspace::phase(&ws)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_comparison_for_ignore_existing() {
        let existing = TypeRef::parse("root:universal");
        assert!(!type_mismatch(&existing, &TypeRef::parse("root:universal")));
        assert!(!type_mismatch(&existing, &TypeRef::parse("universal")));
        assert!(type_mismatch(
            &existing,
            &TypeRef::parse("root:org:universal")
        ));
        assert!(type_mismatch(&existing, &TypeRef::parse("root:team")));
    }
}
