//! What every subcommand starts from: the kubeconfig-related flags, the
//! loaded kubeconfig, the context in use and its server URL (which names the
//! current workspace).

use std::path::PathBuf;

use anyhow::{anyhow, bail};

use super::client::{Conn, Overrides};
use super::kubeconfig::{self, Edit, Loaded};
use super::path::{ClusterPath, split_workspace_url};

/// kubectl's connection flags that the plugin honours (kcp binds the same
/// subset). They may appear anywhere on the command line.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// Path to the kubeconfig file.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The name of the kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The address and port of the Kubernetes API server.
    #[arg(long, short = 's', global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token for authentication to the API server.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Path to a cert file for the certificate authority.
    #[arg(long, global = true, value_name = "PATH")]
    pub certificate_authority: Option<PathBuf>,
    /// Do not check the server's certificate.
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
    /// Server name to use for server certificate validation.
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_server_name: Option<String>,
}

pub struct Session {
    pub options: Options,
    pub files: Loaded,
    /// The context in use (`--context`, else the current context).
    pub context: String,
}

impl Session {
    pub fn load(options: Options) -> anyhow::Result<Session> {
        let files = kubeconfig::load(options.kubeconfig.as_deref())?;
        let context = options
            .context
            .clone()
            .or_else(|| files.merged.current_context.clone())
            .unwrap_or_default();
        Ok(Session {
            options,
            files,
            context,
        })
    }

    /// The server URL in use: `--server`, else the context's cluster server.
    pub fn host(&self) -> anyhow::Result<String> {
        if let Some(server) = &self.options.server {
            return Ok(server.clone());
        }
        if self.context.is_empty() {
            bail!("no current context is set in the kubeconfig");
        }
        let ctx = kubeconfig::context(&self.files.merged, &self.context)
            .ok_or_else(|| anyhow!("context {:?} not found in kubeconfig", self.context))?;
        let cluster = kubeconfig::cluster(&self.files.merged, &ctx.cluster)
            .ok_or_else(|| anyhow!("cluster {:?} not found in kubeconfig", ctx.cluster))?;
        cluster
            .server
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("cluster {:?} has no server defined", ctx.cluster))
    }

    /// The server URL split into base URL and workspace path; the error
    /// comes from `message` with the URL when it points to no workspace.
    pub fn workspace(
        &self,
        message: impl Fn(&str) -> String,
    ) -> anyhow::Result<(String, ClusterPath)> {
        let host = self.host()?;
        split_workspace_url(&host).ok_or_else(|| anyhow!(message(&host)))
    }

    /// A client for the server at `base`, with the context's credentials.
    pub async fn connect(&self, base: &str) -> anyhow::Result<Conn> {
        let overrides = Overrides {
            token: self.options.token.clone(),
            insecure_skip_tls_verify: self.options.insecure_skip_tls_verify,
            certificate_authority: self.options.certificate_authority.clone(),
            tls_server_name: self.options.tls_server_name.clone(),
        };
        Conn::new(&self.files.merged, &self.context, base, &overrides).await
    }

    /// Writes `edit` to the kubeconfig.
    pub fn save(&self, edit: &Edit) -> anyhow::Result<()> {
        kubeconfig::save(&self.files.write_path, edit)
    }
}
