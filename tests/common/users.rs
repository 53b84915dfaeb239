//! Acting as one user in one workspace: kubectl with `--server` pointing at
//! the workspace and `--token` from the server's `--token-auth-file`, and
//! the set-up most multi-user tests share (workspace creators in root).

use std::process::Output;

use super::Server;

/// kubectl as one user (`token`; `None`: the admin kubeconfig) in one
/// workspace.
pub struct As<'a> {
    pub server: &'a Server,
    pub token: Option<&'a str>,
    pub ws: String,
}

impl Server {
    pub fn as_user<'a>(&'a self, token: Option<&'a str>, ws: &str) -> As<'a> {
        As {
            server: self,
            token,
            ws: ws.to_string(),
        }
    }

    /// `https://127.0.0.1:port` without the workspace path.
    pub fn base_url(&self) -> String {
        self.url.split("/clusters/").next().unwrap().to_string()
    }
}

impl As<'_> {
    pub fn run(&self, stdin: Option<&str>, args: &[&str]) -> Output {
        let server = format!("--server={}/clusters/{}", self.server.base_url(), self.ws);
        let token = self.token.map(|t| format!("--token={t}"));
        let mut all = vec![server.as_str()];
        if let Some(t) = &token {
            all.push(t);
        }
        all.extend_from_slice(args);
        self.server.kubectl_in(stdin, &all)
    }

    /// Must succeed; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(None, args);
        assert!(
            o.status.success(),
            "kubectl {args:?} in {} as {:?} failed: {}",
            self.ws,
            self.token,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Must fail; stderr.
    pub fn err(&self, args: &[&str]) -> String {
        let o = self.run(None, args);
        assert!(
            !o.status.success(),
            "kubectl {args:?} in {} as {:?} unexpectedly succeeded: {}",
            self.ws,
            self.token,
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).to_string()
    }

    /// Must be refused as Forbidden; stderr.
    pub fn denied(&self, args: &[&str]) -> String {
        let err = self.err(args);
        // kubectl prints most refusals as `Error from server (Forbidden)`,
        // and some commands (`create rolebinding`) as `failed to create
        // ...: ... is forbidden`.
        assert!(
            err.contains("(Forbidden)") || err.contains(" is forbidden: "),
            "kubectl {args:?} in {} as {:?}: expected Forbidden, got {err}",
            self.ws,
            self.token
        );
        err
    }

    /// `kubectl get <args> -o json`, which must succeed, parsed.
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("kubectl printed JSON")
    }

    /// `kubectl create -f -` of `manifest`.
    pub fn create(&self, manifest: &str) -> Output {
        self.run(Some(manifest), &["create", "-f", "-"])
    }

    /// `kubectl apply -f -` of `manifest`, which must succeed.
    pub fn apply(&self, manifest: &str) -> String {
        let o = self.run(Some(manifest), &["apply", "-f", "-"]);
        assert!(
            o.status.success(),
            "apply in {} as {:?} failed: {}",
            self.ws,
            self.token,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

/// Lets the group `system:kcp:workspace-creators` enter root and create
/// workspaces there.
pub const WORKSPACE_CREATORS: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: workspace-creator
rules:
- apiGroups: ["tenancy.kcp.io"]
  resources: ["workspaces"]
  verbs: ["create", "get", "list", "watch"]
- nonResourceURLs: ["/"]
  verbs: ["access"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: workspace-creators
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: workspace-creator
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: system:kcp:workspace-creators
"#;

/// `token`'s user creates `root:<name>` (and so owns it); waits for Ready.
pub fn create_workspace(s: &Server, token: &str, name: &str) {
    let o = s.as_user(Some(token), "root").create(&format!(
        "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: {name}\n"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.as_user(None, "root").ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Ready",
        &format!("workspace/{name}"),
        "--timeout=30s",
    ]);
}

/// A server with `tokens` (Kubernetes' token CSV) as its token file and
/// workspace creators allowed in root.
pub fn start_with_users(
    name: &str,
    dir: &tempfile::TempDir,
    tokens: &str,
    extra: &[&str],
) -> Server {
    let file = dir.path().join("tokens.csv");
    std::fs::write(&file, tokens).unwrap();
    let file = file.to_str().unwrap().to_string();
    let mut args = vec!["--token-auth-file", file.as_str()];
    args.extend_from_slice(extra);
    let s = Server::start_with(name, &args);
    let o = s.as_user(None, "root").create(WORKSPACE_CREATORS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s
}

impl Server {
    /// A kube-rs client for workspace `ws` (or any path below the server,
    /// e.g. a virtual workspace), as `token`'s user or, with `None`, as the
    /// admin.
    pub async fn client_in(&self, path: &str, token: Option<&str>) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let mut cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("config");
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/clusters/{path}")
        };
        cfg.cluster_url = format!("{}{path}", self.base_url()).parse().expect("url");
        if let Some(t) = token {
            cfg.auth_info = kube::config::AuthInfo {
                token: Some(t.to_string().into()),
                ..Default::default()
            };
        }
        kube::Client::try_from(cfg).expect("client")
    }
}

impl Server {
    /// A raw HTTPS request as `token`'s user to `path` (absolute, from the
    /// server's root); `body` is (Content-Type, bytes). Returns (status,
    /// body).
    pub fn curl_token(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<(&str, &str)>,
    ) -> (u16, String) {
        let ct = body.map(|(ct, _)| format!("Content-Type: {ct}"));
        let headers: Vec<&str> = ct.iter().map(String::as_str).collect();
        self.curl_url(
            method,
            &format!("{}{path}", self.base_url()),
            token,
            &headers,
            body.map(|(_, b)| b),
        )
    }
}

/// RBAC in a provider's workspace letting the group `consumers` bind
/// APIExport `export`.
pub fn bind_permission(export: &str) -> String {
    format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: bind-{export}
rules:
- apiGroups: ["apis.kcp.io"]
  resources: ["apiexports"]
  resourceNames: ["{export}"]
  verbs: ["bind"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: bind-{export}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bind-{export}}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: consumers}}
"#
    )
}

/// `consumer` binds APIExport `export` of `provider_path` (an APIBinding
/// of the same name), waits for it to be Bound and for `resource` to be
/// served.
pub fn bind_export(consumer: &As<'_>, provider_path: &str, export: &str, resource: &str) {
    consumer.apply(&format!(
        "apiVersion: apis.kcp.io/v1alpha1\nkind: APIBinding\nmetadata:\n  name: {export}\nspec:\n  reference:\n    export:\n      path: {provider_path}\n      name: {export}\n"
    ));
    consumer.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        &format!("apibinding/{export}"),
        "--timeout=30s",
    ]);
    super::eventually_sync(std::time::Duration::from_secs(20), || {
        consumer
            .run(None, &["get", resource, "-A"])
            .status
            .success()
            .then_some(())
    });
}
