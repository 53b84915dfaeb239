//! The `kubectl ws` plugin (the `kubectl-ws` binary, found by kubectl on
//! PATH) against the real server: creating, entering, navigating and listing
//! workspaces the way kcp's plugin does, with kcp's messages.

use crate::common::Server;

fn stdout_and_stderr(s: &Server, args: &[&str]) -> (String, String) {
    let out = s.kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn create_enter_navigate_and_tree() {
    let s = Server::start("ws_plugin_navigate");
    assert_eq!(
        s.kubectl_ok(&["ws", "current"]),
        "Current workspace is 'root'.\n"
    );

    // create --enter: waits for Ready, then switches into the workspace.
    let out = s.kubectl_ok(&["ws", "create", "org", "--enter"]);
    assert!(out.contains("Workspace \"org\" (type "), "{out}");
    assert!(out.contains(") is ready to use.\n"), "{out}");
    assert!(out.contains("Current workspace is 'root:org'"), "{out}");
    assert_eq!(
        s.kubectl_ok(&["ws", "current"]),
        "Current workspace is 'root:org'.\n"
    );
    assert_eq!(
        s.kubectl_ok(&["ws", "."]),
        "Current workspace is 'root:org'.\n"
    );
    assert_eq!(s.kubectl_ok(&["ws", "current", "--short"]), "root:org\n");

    // create without --enter stays where it is.
    let out = s.kubectl_ok(&["ws", "create", "team", "--type", "universal"]);
    assert!(out.contains("Workspace \"team\" (type "), "{out}");
    assert!(out.contains("universal) is ready to use.\n"), "{out}");
    assert!(!out.contains("Current workspace"), "{out}");
    assert_eq!(s.kubectl_ok(&["ws", "current", "--short"]), "root:org\n");

    // An existing name fails, unless --ignore-existing.
    let err = s.kubectl_err(&["ws", "create", "team"]);
    assert!(err.contains("already exists"), "{err}");
    let out = s.kubectl_ok(&["ws", "create", "team", "--ignore-existing"]);
    assert!(out.contains("Workspace \"team\" (type "), "{out}");
    assert!(out.contains("already exists."), "{out}");

    // The tree below root, short and full names; kcp ends with an empty line.
    let out = s.kubectl_ok(&["ws", ":root"]);
    assert_eq!(out, "Current workspace is 'root' (type root).\n");
    assert_eq!(
        s.kubectl_ok(&["ws", "tree"]),
        ".\n└── root\n    └── org\n        └── team\n\n"
    );
    assert_eq!(
        s.kubectl_ok(&["ws", "tree", "--full"]),
        ".\n└── root\n    └── root:org\n        └── root:org:team\n\n"
    );

    // Relative, legacy absolute (with a note), parent and previous.
    let out = s.kubectl_ok(&["ws", "use", "org"]);
    assert!(out.starts_with("Current workspace is 'root:org'"), "{out}");
    let (out, err) = stdout_and_stderr(&s, &["ws", "use", "root:org:team"]);
    assert!(
        out.starts_with("Current workspace is 'root:org:team' (type "),
        "{out}"
    );
    assert!(out.contains("universal)."), "{out}");
    assert!(
        err.contains("Note: Using 'root:' to define an absolute path is no longer supported."),
        "{err}"
    );

    // Plain kubectl now talks to the entered workspace.
    s.kubectl_ok(&["create", "namespace", "inside-team"]);
    let ns = s.kubectl_ok(&["get", "ns"]);
    assert!(ns.contains("inside-team"), "{ns}");

    let out = s.kubectl_ok(&["ws", "use", ".."]);
    assert!(out.starts_with("Current workspace is 'root:org'"), "{out}");
    let err = s.kubectl_err(&["get", "ns", "inside-team"]);
    assert!(err.contains("not found"), "{err}");

    assert_eq!(
        s.kubectl_ok(&["ws", "use", "-"]),
        "Current workspace is 'root:org:team'.\n"
    );
    s.kubectl_ok(&["get", "ns", "inside-team"]);
    assert_eq!(
        s.kubectl_ok(&["ws", "-"]),
        "Current workspace is 'root:org'.\n"
    );
    let out = s.kubectl_ok(&["ws", "cd", "team"]);
    assert!(
        out.starts_with("Current workspace is 'root:org:team'"),
        "{out}"
    );
    let out = s.kubectl_ok(&["ws", "..:.."]);
    assert!(out.starts_with("Current workspace is 'root'"), "{out}");
}

#[test]
fn errors_home_and_kubeconfig_bookkeeping() {
    let s = Server::start("ws_plugin_errors");

    let err = s.kubectl_err(&["ws", "use", "nonexistent"]);
    assert!(
        err.contains("workspace \"root:nonexistent\" not found"),
        "{err}"
    );
    let err = s.kubectl_err(&["ws", ".."]);
    assert!(err.contains("invalid workspace path: .."), "{err}");
    let err = s.kubectl_err(&["ws", "Not_Valid"]);
    assert!(err.contains("invalid workspace path: Not_Valid"), "{err}");
    // No switch has happened yet, so there is no previous workspace.
    let err = s.kubectl_err(&["ws", "-"]);
    assert!(
        err.contains("no previous workspace found in kubeconfig"),
        "{err}"
    );
    // A failed switch leaves the kubeconfig alone.
    assert_eq!(s.kubectl_ok(&["ws", "current", "--short"]), "root\n");

    s.kubectl_ok(&["ws", "create", "a", "--enter"]);
    // ~ is the root workspace in Trellis (no home workspaces); so is
    // `kubectl ws` without arguments, which prints kcp's note.
    let out = s.kubectl_ok(&["ws", "~"]);
    assert!(out.starts_with("Current workspace is 'root'"), "{out}");
    s.kubectl_ok(&["ws", "-"]);
    let (out, err) = stdout_and_stderr(&s, &["ws"]);
    assert!(out.starts_with("Current workspace is 'root'"), "{out}");
    assert!(
        err.contains("'kubectl ws' now matches 'cd' semantics"),
        "{err}"
    );

    // kcp's bookkeeping: current and previous contexts, original kept.
    let kc = std::fs::read_to_string(&s.kubeconfig).expect("kubeconfig");
    assert!(
        kc.contains("current-context: workspace.kcp.io/current"),
        "{kc}"
    );
    assert!(kc.contains("name: workspace.kcp.io/previous"), "{kc}");
    assert!(kc.contains("name: trellis"), "{kc}");
    assert!(kc.contains("/clusters/root\n"), "{kc}");
}
