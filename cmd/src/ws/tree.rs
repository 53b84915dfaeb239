//! `kubectl ws tree [--full]`: the current workspace and its descendants,
//! listed from each workspace's Workspace collection and drawn the way kcp
//! draws it (treeprint: a `.` line, then `├──`/`└──` branches).

use std::future::Future;
use std::pin::Pin;

use super::client::{Conn, status_code};
use super::path::{ClusterPath, split_workspace_url};
use super::session::Session;
use super::workspace;

#[derive(clap::Args, Clone, Debug)]
pub struct TreeArgs {
    /// Show full workspace names.
    #[arg(long, short = 'f')]
    pub full: bool,
}

/// A workspace and its children, by display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub label: String,
    pub children: Vec<Node>,
}

pub async fn run_tree(sess: &Session, args: &TreeArgs) -> anyhow::Result<()> {
    let (base, current) = sess.workspace(|host| {
        format!("current config context URL {host:?} does not point to workspace")
    })?;
    let conn = sess.connect(&base).await?;
    let label = if args.full {
        current.to_string()
    } else {
        let (_, last) = current
            .as_str()
            .rsplit_once(':')
            .unwrap_or(("", current.as_str()));
        last.to_string()
    };
    let children = children(&conn, current, label.clone(), args.full).await?;
    let root = Node { label, children };
    // kcp prints the rendered tree with Println, hence the empty last line.
    println!("{}", render(&root));
    Ok(())
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The child workspaces of `parent`, recursively.
fn children(
    conn: &Conn,
    parent: ClusterPath,
    parent_label: String,
    full: bool,
) -> BoxFuture<'_, anyhow::Result<Vec<Node>>> {
    Box::pin(async move {
        let list = match conn.get(&workspace::workspaces_url(&parent)).await {
            Ok(list) => list,
            Err(e) if status_code(&e) == Some(404) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let items = list
            .get("items")
            .and_then(|i| i.as_array())
            .cloned()
            .unwrap_or_default();
        let mut nodes = Vec::with_capacity(items.len());
        for ws in &items {
            let name = workspace::name(ws);
            // The workspace is reached through its URL (the logical cluster);
            // before it is scheduled, through its path.
            let url = workspace::spec_url(ws);
            let path = if url.is_empty() {
                parent.join(name)
            } else {
                match split_workspace_url(url) {
                    Some((_, p)) => p,
                    None => anyhow::bail!(
                        "current config context URL {url:?} does not point to workspace"
                    ),
                }
            };
            let label = if full {
                format!("{parent_label}:{name}")
            } else {
                name.to_string()
            };
            let children = children(conn, path, label.clone(), full).await?;
            nodes.push(Node { label, children });
        }
        Ok(nodes)
    })
}

/// Renders `root` below a `.` line, ending with a newline.
pub fn render(root: &Node) -> String {
    let mut out = String::from(".\n");
    draw(&mut out, std::slice::from_ref(root), "");
    out
}

fn draw(out: &mut String, nodes: &[Node], prefix: &str) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&node.label);
        out.push('\n');
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        draw(out, &node.children, &deeper);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(label: &str, children: Vec<Node>) -> Node {
        Node {
            label: label.into(),
            children,
        }
    }

    #[test]
    fn chain() {
        let t = n("root", vec![n("org", vec![n("team", vec![])])]);
        assert_eq!(render(&t), ".\n└── root\n    └── org\n        └── team\n");
    }

    #[test]
    fn siblings() {
        let t = n(
            "root",
            vec![
                n("a", vec![n("a1", vec![]), n("a2", vec![])]),
                n("b", vec![n("b1", vec![])]),
            ],
        );
        let want = "\
.
└── root
    ├── a
    │   ├── a1
    │   └── a2
    └── b
        └── b1
";
        assert_eq!(render(&t), want);
    }

    #[test]
    fn leaf_only() {
        assert_eq!(render(&n("root", vec![])), ".\n└── root\n");
    }
}
