//! The README's quick start, run as written (against a test server instead
//! of the default data directory and port).

use crate::common::Server;

#[test]
fn readme_quick_start_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README");
    let start = readme
        .find("Then, in another shell:")
        .expect("quick start section");
    let section = &readme[start..];
    let section = &section[..section
        .find("Restarting reuses")
        .expect("end of quick start")];
    let lines: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("kubectl apply -f - <<'YAML'")),
        "{lines:?}"
    );
    let s = Server::start("readme");
    let mut i = 0;
    let mut outputs = Vec::new();
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.starts_with("export KUBECONFIG=") {
            continue;
        }
        let args: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(args[0], "kubectl", "quick start runs kubectl only: {line}");
        if line.ends_with("<<'YAML'") {
            let mut doc = String::new();
            while lines[i] != "YAML" {
                doc.push_str(lines[i]);
                doc.push('\n');
                i += 1;
            }
            i += 1;
            let args: Vec<&str> = args[1..args.len() - 1].to_vec();
            let out = s.kubectl_in(Some(&doc), &args);
            assert!(
                out.status.success(),
                "{line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            outputs.push(String::from_utf8_lossy(&out.stdout).to_string());
        } else {
            outputs.push(s.kubectl_ok(&args[1..]));
        }
    }
    let all = outputs.join("\n");
    assert!(all.contains("default"), "{all}");
    assert!(all.contains("configmap/demo created"), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with("demo") && l.split_whitespace().nth(1) == Some("1")),
        "{all}"
    );
}

/// The "Users and permissions" commands, run as written by a shell with the
/// admin kubeconfig (comments stripped, continuation lines joined).
#[test]
fn readme_permissions_section_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README");
    let start = readme
        .find("## Users and permissions")
        .expect("permissions section");
    let section = &readme[start..];
    let section = &section[..section.find("`--audit-log-path").expect("end")];
    let script: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .collect();
    let script = script.join("\n").replace("\\\n", " ");
    assert!(script.contains("kubectl create token bot"), "{script}");
    let s = Server::start("readme-permissions");
    let mut outputs = Vec::new();
    for line in script.lines() {
        let command = line.split(" # ").next().unwrap().trim();
        let home = s.data_dir.parent().unwrap().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let kubectl_dir = crate::common::kubectl_path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        // `kubectl` in the README is kubectl 1.33 here.
        let shim = s.data_dir.parent().unwrap().join("bin");
        std::fs::create_dir_all(&shim).unwrap();
        let link = shim.join("kubectl");
        if !link.exists() {
            std::os::unix::fs::symlink(crate::common::kubectl_path(), &link).unwrap();
        }
        let path = std::env::join_paths(
            [shim, kubectl_dir]
                .into_iter()
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", command])
            .env("KUBECONFIG", &s.kubeconfig)
            .env("HOME", &home)
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(String::from_utf8_lossy(&out.stdout).to_string());
    }
    let all = outputs.join("\n");
    assert!(all.lines().any(|l| l == "yes"), "{all}");
    // The token printed by `kubectl create token` is a JWT.
    assert!(
        all.lines()
            .any(|l| l.starts_with("eyJ") && l.split('.').count() == 3),
        "{all}"
    );
    assert!(all.contains("admin"), "{all}");
}
