//! A small JSON client for the server behind the current context: kube-rs
//! with the context's credentials and CA, rooted at the server's base URL
//! so that any workspace is reachable as `/clusters/<path>/...`.

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

/// Connection settings given on the command line (kubectl's names).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub token: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub certificate_authority: Option<std::path::PathBuf>,
    pub tls_server_name: Option<String>,
}

impl Overrides {
    /// A copy of `kc` with the overrides applied to the cluster and user of
    /// `context` (what kubectl does with its flags; nothing is saved).
    fn applied_to(&self, kc: &Kubeconfig, context: &str) -> Kubeconfig {
        let mut kc = kc.clone();
        let Some(ctx) = kc
            .contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.clone())
        else {
            return kc;
        };
        if let Some(cluster) = kc
            .clusters
            .iter_mut()
            .find(|c| c.name == ctx.cluster)
            .and_then(|c| c.cluster.as_mut())
        {
            if self.insecure_skip_tls_verify {
                cluster.insecure_skip_tls_verify = Some(true);
                cluster.certificate_authority = None;
                cluster.certificate_authority_data = None;
            }
            if let Some(ca) = &self.certificate_authority {
                cluster.certificate_authority = Some(ca.display().to_string());
                cluster.certificate_authority_data = None;
            }
            if let Some(name) = &self.tls_server_name {
                cluster.tls_server_name = Some(name.clone());
            }
        }
        if let Some(token) = &self.token {
            let user = ctx.user.as_deref().unwrap_or_default();
            if let Some(auth) = kc
                .auth_infos
                .iter_mut()
                .find(|u| u.name == user)
                .and_then(|u| u.auth_info.as_mut())
            {
                auth.token = Some(token.clone().into());
                auth.token_file = None;
            }
        }
        kc
    }
}

pub struct Conn {
    client: kube::Client,
}

/// An API error: the HTTP status and the `Status` message.
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// The HTTP status of an API error inside `err`, if it is one.
pub fn status_code(err: &anyhow::Error) -> Option<u16> {
    err.downcast_ref::<ApiError>().map(|e| e.code)
}

/// Whether `err` says the object already exists (409 `AlreadyExists`).
pub fn is_already_exists(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ApiError>()
        .is_some_and(|e| e.code == 409 && (e.reason == "AlreadyExists" || e.reason.is_empty()))
}

impl Conn {
    /// Connects with the credentials of `context` to `base` (the server URL
    /// without the `/clusters/...` part).
    pub async fn new(
        kc: &Kubeconfig,
        context: &str,
        base: &str,
        overrides: &Overrides,
    ) -> anyhow::Result<Conn> {
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let kc = overrides.applied_to(kc, context);
        let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .context("loading client configuration from the kubeconfig")?;
        config.cluster_url = base
            .parse()
            .with_context(|| format!("invalid server URL {base:?}"))?;
        let client = kube::Client::try_from(config).context("creating the API client")?;
        Ok(Conn { client })
    }

    /// GET `path` (absolute, e.g. `/clusters/root/apis/...`).
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(http::Method::GET, path, None).await
    }

    /// POST `body` to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(http::Method::POST, path, Some(body)).await
    }

    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::ACCEPT, "application/json");
        let bytes = match body {
            Some(b) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                serde_json::to_vec(b)?
            }
            None => Vec::new(),
        };
        let req = req.body(bytes)?;
        match self.client.request::<Value>(req).await {
            Ok(v) => Ok(v),
            Err(kube::Error::Api(status)) => Err(ApiError {
                code: status.code,
                reason: status.reason.clone(),
                message: if status.message.is_empty() {
                    format!("the server responded with status {}", status.code)
                } else {
                    status.message.clone()
                },
            }
            .into()),
            Err(e) => Err(anyhow::Error::new(e)),
        }
    }
}
