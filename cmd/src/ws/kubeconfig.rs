//! Reading and editing the kubeconfig the way kcp's plugin does.
//!
//! Entering a workspace writes a cluster and a context named
//! `workspace.kcp.io/current` (a copy of the current ones with the server
//! URL pointing at the workspace) and makes that context current. The context
//! that was current before is kept as `workspace.kcp.io/previous` (with its
//! cluster copied to `workspace.kcp.io/previous` when it was the workspace
//! cluster), which is what `kubectl ws -` swaps back to.
//!
//! Files are located like kubectl does (`--kubeconfig`, else the `KUBECONFIG`
//! list, else `~/.kube/config`). Edits go into the first file of the list
//! (the one that wins when kubectl merges them); everything else in it is
//! kept, and it is replaced atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use kube::config::{Cluster, Context, Kubeconfig, NamedCluster, NamedContext};

/// The context and cluster that point at the current workspace.
pub const CURRENT: &str = "workspace.kcp.io/current";
/// The context (and possibly cluster) of the workspace before.
pub const PREVIOUS: &str = "workspace.kcp.io/previous";

/// The merged kubeconfig and the file edits are written to.
pub struct Loaded {
    /// All files merged, with relative file references made absolute.
    pub merged: Kubeconfig,
    /// Where [`save`] writes.
    pub write_path: PathBuf,
}

/// The kubeconfig files in precedence order, and whether they must exist.
fn locate(explicit: Option<&Path>) -> anyhow::Result<(Vec<PathBuf>, bool)> {
    if let Some(p) = explicit {
        return Ok((vec![p.to_path_buf()], true));
    }
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return Ok((paths, false));
        }
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            anyhow!("cannot find a kubeconfig: neither --kubeconfig, KUBECONFIG nor HOME is set")
        })?;
    Ok((
        vec![PathBuf::from(home).join(".kube").join("config")],
        false,
    ))
}

/// Loads the kubeconfig (`--kubeconfig` if given).
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Loaded> {
    let (paths, must_exist) = locate(explicit)?;
    let mut merged: Option<Kubeconfig> = None;
    let mut write_path = None;
    for p in &paths {
        if !must_exist && !p.exists() {
            continue;
        }
        let kc = Kubeconfig::read_from(p)
            .with_context(|| format!("reading kubeconfig {}", p.display()))?;
        write_path.get_or_insert_with(|| p.clone());
        merged = Some(match merged {
            Some(m) => m.merge(kc)?,
            None => kc,
        });
    }
    Ok(Loaded {
        merged: merged.unwrap_or_default(),
        write_path: write_path.unwrap_or_else(|| paths[0].clone()),
    })
}

pub fn context<'a>(kc: &'a Kubeconfig, name: &str) -> Option<&'a Context> {
    kc.contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
}

pub fn cluster<'a>(kc: &'a Kubeconfig, name: &str) -> Option<&'a Cluster> {
    kc.clusters
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.cluster.as_ref())
}

/// The entries a workspace switch sets; everything else stays as it is.
#[derive(Clone, Debug, Default)]
pub struct Edit {
    pub clusters: Vec<(String, Cluster)>,
    pub contexts: Vec<(String, Context)>,
    pub current_context: String,
}

impl Edit {
    /// Applies the edit to `kc`, replacing entries of the same name in place.
    pub fn apply(&self, kc: &mut Kubeconfig) {
        for (name, cluster) in &self.clusters {
            let entry = NamedCluster {
                name: name.clone(),
                cluster: Some(cluster.clone()),
                ..Default::default()
            };
            match kc.clusters.iter_mut().find(|c| &c.name == name) {
                Some(existing) => existing.cluster = entry.cluster,
                None => kc.clusters.push(entry),
            }
        }
        for (name, context) in &self.contexts {
            let entry = NamedContext {
                name: name.clone(),
                context: Some(context.clone()),
                ..Default::default()
            };
            match kc.contexts.iter_mut().find(|c| &c.name == name) {
                Some(existing) => existing.context = entry.context,
                None => kc.contexts.push(entry),
            }
        }
        kc.current_context = Some(self.current_context.clone());
    }
}

fn cluster_of<'a>(kc: &'a Kubeconfig, name: &str) -> anyhow::Result<&'a Cluster> {
    cluster(kc, name).ok_or_else(|| anyhow!("cluster {name:?} not found in kubeconfig"))
}

fn current_of<'a>(kc: &'a Kubeconfig, current_context: &str) -> anyhow::Result<&'a Context> {
    context(kc, current_context)
        .ok_or_else(|| anyhow!("current {current_context:?} context not found"))
}

/// Enters the workspace at `server`, coming from `current_context`.
pub fn switch_to(kc: &Kubeconfig, current_context: &str, server: &str) -> anyhow::Result<Edit> {
    let current = current_of(kc, current_context)?;
    let old_cluster = cluster_of(kc, &current.cluster)?;
    let mut edit = Edit {
        current_context: CURRENT.to_string(),
        ..Default::default()
    };
    let mut new_cluster = old_cluster.clone();
    new_cluster.server = Some(server.to_string());
    edit.clusters.push((CURRENT.to_string(), new_cluster));
    let mut new_context = current.clone();
    new_context.cluster = CURRENT.to_string();
    edit.contexts.push((CURRENT.to_string(), new_context));

    let mut previous = current.clone();
    if current.cluster == CURRENT {
        // The workspace cluster is about to change: keep a copy for `-`.
        previous.cluster = PREVIOUS.to_string();
        edit.clusters
            .push((PREVIOUS.to_string(), old_cluster.clone()));
    }
    edit.contexts.push((PREVIOUS.to_string(), previous));
    Ok(edit)
}

/// Swaps the current and the previous context (`kubectl ws -`).
pub fn swap_previous(kc: &Kubeconfig, current_context: &str) -> anyhow::Result<Edit> {
    let mut current = current_of(kc, current_context)?.clone();
    let mut previous = context(kc, PREVIOUS)
        .ok_or_else(|| anyhow!("no previous workspace found in kubeconfig"))?
        .clone();
    let mut edit = Edit {
        current_context: CURRENT.to_string(),
        ..Default::default()
    };
    if current.cluster == CURRENT {
        let old = cluster_of(kc, CURRENT)?.clone();
        current.cluster = PREVIOUS.to_string();
        edit.clusters.push((PREVIOUS.to_string(), old));
    }
    if previous.cluster == PREVIOUS {
        let prev = cluster_of(kc, PREVIOUS)?.clone();
        previous.cluster = CURRENT.to_string();
        edit.clusters.push((CURRENT.to_string(), prev));
    }
    edit.contexts.push((CURRENT.to_string(), previous));
    edit.contexts.push((PREVIOUS.to_string(), current));
    Ok(edit)
}

/// The server URL of the current context's cluster.
pub fn current_server(kc: &Kubeconfig) -> Option<&str> {
    let ctx = context(kc, kc.current_context.as_deref()?)?;
    cluster(kc, &ctx.cluster)?.server.as_deref()
}

/// Parses a kubeconfig document without touching file references.
pub fn parse(text: &str) -> anyhow::Result<Kubeconfig> {
    Ok(Kubeconfig::from_yaml(text)?)
}

/// Serializes a kubeconfig as YAML, `apiVersion` and `kind` first.
pub fn to_yaml(kc: &Kubeconfig) -> anyhow::Result<String> {
    let serde_yaml::Value::Mapping(mut fields) = serde_yaml::to_value(kc)? else {
        return Ok(serde_yaml::to_string(kc)?);
    };
    let mut ordered = serde_yaml::Mapping::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = fields.remove(key) {
            ordered.insert(key.into(), v);
        }
    }
    ordered.extend(fields);
    Ok(serde_yaml::to_string(&ordered)?)
}

/// Applies `edit` to the file at `path` (creating it if needed) and
/// replaces the file atomically, keeping its permissions.
pub fn save(path: &Path, edit: &Edit) -> anyhow::Result<()> {
    // Write through symlinks rather than replacing them.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (mut kc, perms) = match std::fs::read_to_string(&target) {
        Ok(text) => (
            parse(&text).with_context(|| format!("parsing kubeconfig {}", target.display()))?,
            std::fs::metadata(&target).ok().map(|m| m.permissions()),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            Kubeconfig {
                api_version: Some("v1".into()),
                kind: Some("Config".into()),
                ..Default::default()
            },
            None,
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
    };
    edit.apply(&mut kc);
    let yaml = to_yaml(&kc)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(yaml.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Some(perms) = perms {
        std::fs::set_permissions(tmp.path(), perms)?;
    }
    tmp.persist(&target)
        .map_err(|e| e.error)
        .with_context(|| format!("writing kubeconfig {}", target.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
- name: trellis
  cluster:
    server: https://127.0.0.1:6443/clusters/root
    certificate-authority-data: Q0E=
- name: other
  cluster:
    server: https://other:443
    insecure-skip-tls-verify: true
contexts:
- name: trellis
  context:
    cluster: trellis
    user: admin
    namespace: default
- name: other
  context:
    cluster: other
    user: someone
current-context: trellis
users:
- name: admin
  user:
    token: secret-token
- name: someone
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
extensions:
- name: my-ext
  extension:
    hello: world
"#;

    fn server_of(kc: &Kubeconfig, cluster_name: &str) -> String {
        cluster(kc, cluster_name)
            .and_then(|c| c.server.clone())
            .unwrap_or_default()
    }

    fn ctx_cluster(kc: &Kubeconfig, name: &str) -> String {
        context(kc, name)
            .map(|c| c.cluster.clone())
            .unwrap_or_default()
    }

    fn enter(kc: &mut Kubeconfig, server: &str) {
        let cur = kc.current_context.clone().unwrap();
        switch_to(kc, &cur, server).unwrap().apply(kc);
    }

    #[test]
    fn first_switch_keeps_the_original_context_as_previous() {
        let mut kc = parse(BASE).unwrap();
        enter(&mut kc, "https://127.0.0.1:6443/clusters/root:org");
        assert_eq!(kc.current_context.as_deref(), Some(CURRENT));
        assert_eq!(
            server_of(&kc, CURRENT),
            "https://127.0.0.1:6443/clusters/root:org"
        );
        assert_eq!(ctx_cluster(&kc, CURRENT), CURRENT);
        // The copy keeps CA data, the context keeps user and namespace.
        assert_eq!(
            cluster(&kc, CURRENT)
                .unwrap()
                .certificate_authority_data
                .as_deref(),
            Some("Q0E=")
        );
        let cur = context(&kc, CURRENT).unwrap();
        assert_eq!(cur.user.as_deref(), Some("admin"));
        assert_eq!(cur.namespace.as_deref(), Some("default"));
        // Previous is the original context, pointing at the original cluster.
        assert_eq!(ctx_cluster(&kc, PREVIOUS), "trellis");
        assert!(cluster(&kc, PREVIOUS).is_none());
        // The original entries are untouched.
        assert_eq!(
            server_of(&kc, "trellis"),
            "https://127.0.0.1:6443/clusters/root"
        );
    }

    #[test]
    fn second_switch_copies_the_workspace_cluster_to_previous() {
        let mut kc = parse(BASE).unwrap();
        enter(&mut kc, "https://h/clusters/root:org");
        enter(&mut kc, "https://h/clusters/root:org:team");
        assert_eq!(server_of(&kc, CURRENT), "https://h/clusters/root:org:team");
        assert_eq!(ctx_cluster(&kc, PREVIOUS), PREVIOUS);
        assert_eq!(server_of(&kc, PREVIOUS), "https://h/clusters/root:org");
    }

    #[test]
    fn swap_goes_back_and_forth() {
        let mut kc = parse(BASE).unwrap();
        enter(&mut kc, "https://h/clusters/root:org");
        enter(&mut kc, "https://h/clusters/root:org:team");
        swap_previous(&kc, CURRENT).unwrap().apply(&mut kc);
        assert_eq!(current_server(&kc), Some("https://h/clusters/root:org"));
        assert_eq!(server_of(&kc, PREVIOUS), "https://h/clusters/root:org:team");
        swap_previous(&kc, CURRENT).unwrap().apply(&mut kc);
        assert_eq!(
            current_server(&kc),
            Some("https://h/clusters/root:org:team")
        );
        assert_eq!(server_of(&kc, PREVIOUS), "https://h/clusters/root:org");
    }

    #[test]
    fn swap_back_to_a_non_workspace_context() {
        let mut kc = parse(BASE).unwrap();
        enter(&mut kc, "https://h/clusters/root:org");
        swap_previous(&kc, CURRENT).unwrap().apply(&mut kc);
        // Current now uses the original cluster; previous keeps the workspace.
        assert_eq!(ctx_cluster(&kc, CURRENT), "trellis");
        assert_eq!(
            current_server(&kc),
            Some("https://127.0.0.1:6443/clusters/root")
        );
        assert_eq!(ctx_cluster(&kc, PREVIOUS), PREVIOUS);
        assert_eq!(server_of(&kc, PREVIOUS), "https://h/clusters/root:org");
        swap_previous(&kc, CURRENT).unwrap().apply(&mut kc);
        assert_eq!(current_server(&kc), Some("https://h/clusters/root:org"));
    }

    #[test]
    fn swap_without_previous_fails() {
        let kc = parse(BASE).unwrap();
        let err = swap_previous(&kc, "trellis").unwrap_err();
        assert_eq!(err.to_string(), "no previous workspace found in kubeconfig");
    }

    #[test]
    fn unknown_current_context_fails() {
        let kc = parse(BASE).unwrap();
        let err = switch_to(&kc, "nope", "https://h/clusters/root").unwrap_err();
        assert_eq!(err.to_string(), "current \"nope\" context not found");
    }

    #[test]
    fn round_trip_keeps_everything_else() {
        let mut kc = parse(BASE).unwrap();
        enter(&mut kc, "https://h/clusters/root:org");
        let again = parse(&to_yaml(&kc).unwrap()).unwrap();
        for name in ["trellis", "other", CURRENT] {
            assert!(cluster(&again, name).is_some(), "cluster {name}");
        }
        for name in ["trellis", "other", CURRENT, PREVIOUS] {
            assert!(context(&again, name).is_some(), "context {name}");
        }
        assert_eq!(
            cluster(&again, "other").unwrap().insecure_skip_tls_verify,
            Some(true)
        );
        assert_eq!(
            context(&again, "other").unwrap().user.as_deref(),
            Some("someone")
        );
        let users: Vec<_> = again.auth_infos.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(users, ["admin", "someone"]);
        let yaml = to_yaml(&again).unwrap();
        assert!(yaml.contains("secret-token"), "token kept: {yaml}");
        assert!(yaml.contains("client-key-data: S0VZ"), "key kept: {yaml}");
        assert!(yaml.contains("my-ext"), "extensions kept: {yaml}");
        assert_eq!(again.preferences.and_then(|p| p.colors), Some(true));
        assert_eq!(again.current_context.as_deref(), Some(CURRENT));
        assert!(yaml.starts_with("apiVersion: v1\nkind: Config\n"), "{yaml}");
    }

    #[test]
    fn save_edits_the_file_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, BASE).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let kc = parse(BASE).unwrap();
        let edit = switch_to(&kc, "trellis", "https://h/clusters/root:org").unwrap();
        save(&path, &edit).unwrap();
        let saved = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(current_server(&saved), Some("https://h/clusters/root:org"));
        assert_eq!(saved.contexts.len(), 4);
        assert_eq!(saved.clusters.len(), 3);
        assert_eq!(saved.auth_infos.len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Saving the same edit again replaces entries instead of adding.
        save(&path, &edit).unwrap();
        let saved = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved.contexts.len(), 4);
        assert_eq!(saved.clusters.len(), 3);
        // Only this file is in the directory (the temporary file is gone).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn relative_file_references_stay_relative_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let text = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://h/clusters/root\n    certificate-authority: ca.crt\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n";
        std::fs::write(&path, text).unwrap();
        let loaded = load(Some(&path)).unwrap();
        assert_eq!(loaded.write_path, path);
        // The merged view (used to connect) resolves file references...
        let abs = dir.path().join("ca.crt").display().to_string();
        assert_eq!(
            cluster(&loaded.merged, "c")
                .unwrap()
                .certificate_authority
                .as_deref(),
            Some(abs.as_str())
        );
        let edit = switch_to(&loaded.merged, "c", "https://h/clusters/root:a").unwrap();
        save(&path, &edit).unwrap();
        // ...but the entries that were in the file are written back as they were.
        let saved = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            cluster(&saved, "c")
                .unwrap()
                .certificate_authority
                .as_deref(),
            Some("ca.crt")
        );
        assert_eq!(current_server(&saved), Some("https://h/clusters/root:a"));
    }

    #[test]
    fn load_requires_an_explicit_file_to_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(Some(&dir.path().join("missing"))).is_err());
    }

    #[test]
    fn save_creates_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config");
        let kc = parse(BASE).unwrap();
        let edit = switch_to(&kc, "trellis", "https://h/clusters/root").unwrap();
        save(&path, &edit).unwrap();
        let saved = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(current_server(&saved), Some("https://h/clusters/root"));
    }
}
