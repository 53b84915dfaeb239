//! Authentication: who is making a request.
//!
//! Every request except the health endpoints must authenticate; a missing
//! credential is `Ok(None)` and an invalid one an error, both answered with
//! a 401 `Status` by the caller (the reason goes to the log, never to the
//! client). Credentials are tried in a fixed order, each authenticator
//! rejecting what it recognises but cannot accept:
//!
//! 1. a TLS client certificate ([`x509`]; the chain was verified against
//!    the server CA during the handshake) — CN is the user, O the groups;
//! 2. a bearer token in the static table: the admin token and
//!    `--token-auth-file` ([`token_file`]); a hash lookup, so it is first;
//! 3. a bearer JWT, routed by its (unverified, then verified) `iss`: the
//!    server's own ServiceAccount tokens ([`service_account`]) or ID tokens
//!    of the `--oidc-issuer-url` ([`oidc`]). The two issuers must differ.
//!
//! Every authenticated user gets `system:authenticated`. There is no
//! anonymous user: no credentials means 401.
//!
//! The table and the JWT verifiers are set once at start-up
//! ([`Authenticator::configure`]); the server constructs the
//! `Authenticator` before it has read the flags, hence interior mutability.

pub mod jwt;
pub mod oidc;
pub mod service_account;
pub mod token_file;
pub mod x509;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use http::HeaderMap;
use parking_lot::RwLock;
use trellis_storage::Storage;

/// The authenticated user (`user.Info`); the same type the RBAC layer
/// decides on.
pub use trellis_apis::rbac::UserInfo;

pub use oidc::{Oidc, OidcOptions};
pub use service_account::{ServiceAccountOptions, ServiceAccounts};

pub const AUTHENTICATED: &str = "system:authenticated";
pub const MASTERS: &str = "system:masters";

/// The authentication flags of `trellis serve`.
#[derive(Clone, Debug, Default)]
pub struct AuthOptions {
    /// `--token-auth-file`: static tokens (Kubernetes CSV format).
    pub token_auth_file: Option<PathBuf>,
    /// `--service-account-issuer`, `--api-audiences`,
    /// `--service-account-max-token-expiration`.
    pub service_account: ServiceAccountOptions,
    /// `--oidc-*`; `None` without `--oidc-issuer-url`.
    pub oidc: Option<OidcOptions>,
}

/// Why presented credentials were rejected (always a 401 to the client;
/// the distinction is for logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The Authorization header is not a bearer token.
    #[error("the Authorization header is not a bearer token")]
    Malformed,
    /// `Bearer  <token>`: kube ignores such a header (and warns).
    #[error("{EXTRA_SPACE_WARNING}")]
    ExtraSpace,
    /// No authenticator knows the credential.
    #[error("unknown bearer token")]
    Unknown,
    /// A recognised credential that does not verify (bad signature,
    /// expired, wrong audience, revoked, unreadable certificate…).
    #[error("{0}")]
    Invalid(String),
    /// The credential could not be checked right now (OIDC issuer down,
    /// storage failure).
    #[error("{0}")]
    Unavailable(String),
}

/// The authenticator chain.
#[derive(Default)]
pub struct Authenticator {
    tokens: RwLock<HashMap<String, UserInfo>>,
    service_accounts: RwLock<Option<Arc<ServiceAccounts>>>,
    oidc: RwLock<Option<Arc<Oidc>>>,
}

impl Authenticator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_token(&self, token: impl Into<String>, user: UserInfo) {
        self.tokens.write().insert(token.into(), user);
    }

    /// Reads the token file, loads (or creates) the ServiceAccount signing
    /// key under `pki` and prepares the OIDC verifier. Any problem is a
    /// start-up error. Tokens already in the table (the admin token) win
    /// over token-file entries with the same token.
    pub fn configure(
        &self,
        opts: &AuthOptions,
        pki: &crate::pki::Paths,
        storage: Arc<dyn Storage>,
    ) -> Result<(), crate::Error> {
        if let Some(path) = &opts.token_auth_file {
            let entries = token_file::load(path).map_err(crate::Error::Config)?;
            let mut tokens = self.tokens.write();
            for e in entries {
                if tokens.contains_key(&e.token) {
                    tracing::warn!(user = %e.user.name, "token file entry reuses a built-in token; ignored");
                    continue;
                }
                tokens.insert(e.token, e.user);
            }
        }
        let key = crate::pki::service_account_key(pki)?;
        let sa = ServiceAccounts::new(&opts.service_account, &key, storage)
            .map_err(crate::Error::Config)?;
        if let Some(o) = &opts.oidc {
            let oidc = Oidc::new(o).map_err(crate::Error::Config)?;
            if oidc.issuer() == sa.issuer() {
                return Err(crate::Error::Config(
                    "--oidc-issuer-url must differ from --service-account-issuer".into(),
                ));
            }
            *self.oidc.write() = Some(Arc::new(oidc));
        }
        *self.service_accounts.write() = Some(Arc::new(sa));
        Ok(())
    }

    /// The ServiceAccount token issuer, once configured.
    pub fn service_accounts(&self) -> Option<Arc<ServiceAccounts>> {
        self.service_accounts.read().clone()
    }

    /// `Ok(None)` when the request carries no credentials at all.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<&crate::serve::PeerCertificates>,
    ) -> Result<Option<UserInfo>, AuthError> {
        match self.identify(headers, peer).await {
            Ok(Some(mut u)) => {
                if !u.groups.iter().any(|g| g == AUTHENTICATED) {
                    u.groups.push(AUTHENTICATED.into());
                }
                Ok(Some(u))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                match &e {
                    AuthError::Unavailable(_) => {
                        tracing::warn!(error = %e, "could not check credentials")
                    }
                    _ => tracing::info!(error = %e, "authentication failed"),
                }
                Err(e)
            }
        }
    }

    async fn identify(
        &self,
        headers: &HeaderMap,
        peer: Option<&crate::serve::PeerCertificates>,
    ) -> Result<Option<UserInfo>, AuthError> {
        if let Some(peer) = peer
            && let Some(u) = x509::user_from_chain(&peer.0)?
        {
            return Ok(Some(u));
        }
        let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let Ok(auth) = auth.to_str() else {
            return Err(AuthError::Malformed);
        };
        let token = match bearer_token(auth) {
            Bearer::Token(t) => t,
            Bearer::ExtraSpace => return Err(AuthError::ExtraSpace),
            Bearer::Other => return Err(AuthError::Malformed),
        };
        if let Some(u) = self.tokens.read().get(token) {
            return Ok(Some(u.clone()));
        }
        if !jwt::looks_like_jwt(token) {
            return Err(AuthError::Unknown);
        }
        let issuer = jwt::peek_issuer(token).ok_or(AuthError::Unknown)?;
        let sa = self.service_accounts();
        if let Some(sa) = sa.filter(|sa| sa.issuer() == issuer) {
            return sa.authenticate(token).await.map(Some);
        }
        let oidc = self.oidc.read().clone();
        if let Some(oidc) = oidc.filter(|o| o.issuer() == issuer) {
            return oidc.authenticate(token).await.map(Some);
        }
        Err(AuthError::Unknown)
    }
}

/// What a TokenReview learns about a token (upstream's
/// `authenticator.Response` and error, as `pkg/registry/authentication/
/// tokenreview` turns them into a status).
#[derive(Debug, Default, PartialEq)]
pub struct TokenReviewed {
    /// The user, with `system:authenticated`, when the token is valid for
    /// one of the audiences.
    pub user: Option<UserInfo>,
    /// The audiences asked for that the token is valid for.
    pub audiences: Vec<String>,
    /// Why a recognised token is not valid.
    pub error: Option<String>,
}

impl Authenticator {
    /// Reviews a bearer token for `requested` audiences (the server's own
    /// when empty), as kube's TokenReview does: a ServiceAccount token
    /// must carry one of them; tokens that know no audience (the token
    /// file, OIDC ID tokens) are valid only for audiences this server
    /// accepts, and are then reported with those. An unknown token is
    /// simply not authenticated, with no error, as upstream.
    pub async fn review_token(&self, token: &str, requested: &[String]) -> TokenReviewed {
        let sa = self.service_accounts();
        let own: Vec<String> = sa
            .as_ref()
            .map(|s| s.audiences().to_vec())
            .unwrap_or_default();
        let wanted = if requested.is_empty() {
            own.clone()
        } else {
            requested.to_vec()
        };
        // Upstream's audience-agnostic wrapper for tokens that know no
        // audience: when audiences are asked for (by the review or the
        // server's configuration), they pass only for those the server
        // accepts, reported as theirs; with none at all, nothing is checked.
        let agnostic: Option<Vec<String>> = if wanted.is_empty() {
            Some(Vec::new())
        } else {
            let accepted: Vec<String> =
                wanted.iter().filter(|a| own.contains(a)).cloned().collect();
            (!accepted.is_empty()).then_some(accepted)
        };
        let authenticated = |mut u: UserInfo, audiences: Vec<String>| {
            if !u.groups.iter().any(|g| g == AUTHENTICATED) {
                u.groups.push(AUTHENTICATED.into());
            }
            TokenReviewed {
                user: Some(u),
                audiences,
                error: None,
            }
        };
        let failed = |e: AuthError| TokenReviewed {
            error: Some(e.to_string()),
            ..Default::default()
        };
        if let Some(u) = self.tokens.read().get(token).cloned() {
            return match agnostic {
                Some(a) => authenticated(u, a),
                None => TokenReviewed::default(),
            };
        }
        if !jwt::looks_like_jwt(token) {
            return TokenReviewed::default();
        }
        let Some(issuer) = jwt::peek_issuer(token) else {
            return TokenReviewed::default();
        };
        if let Some(sa) = sa.filter(|sa| sa.issuer() == issuer) {
            return match sa.authenticate_for(token, &wanted).await {
                Ok((u, matched)) => authenticated(u, matched),
                Err(e) => failed(e),
            };
        }
        let oidc = self.oidc.read().clone();
        if let Some(oidc) = oidc.filter(|o| o.issuer() == issuer) {
            let Some(a) = agnostic else {
                return TokenReviewed::default();
            };
            return match oidc.authenticate(token).await {
                Ok(u) => authenticated(u, a),
                Err(e) => failed(e),
            };
        }
        TokenReviewed::default()
    }
}

/// kube's warning for `Bearer  <token>` (two spaces), which it ignores.
pub const EXTRA_SPACE_WARNING: &str = "the provided Authorization header contains extra space before the bearer token, and is ignored";

/// What an Authorization header holds, read as kube's bearer-token
/// authenticator reads it: trimmed, split on single spaces into at most
/// three parts, the second being the token.
enum Bearer<'a> {
    Token(&'a str),
    ExtraSpace,
    Other,
}

fn bearer_token(header: &str) -> Bearer<'_> {
    let mut parts = header.trim().splitn(3, ' ');
    match (parts.next(), parts.next()) {
        (Some(scheme), Some(token)) if scheme.eq_ignore_ascii_case("bearer") => {
            if token.is_empty() {
                Bearer::ExtraSpace
            } else {
                Bearer::Token(token)
            }
        }
        _ => Bearer::Other,
    }
}

/// Whether a request's Authorization header is the `Bearer  <token>` form
/// kube ignores with [`EXTRA_SPACE_WARNING`].
pub fn bearer_has_extra_space(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| matches!(bearer_token(h), Bearer::ExtraSpace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_storage::{SledConfig, SledStorage};

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {t}").parse().unwrap(),
        );
        h
    }

    fn user(name: &str) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: vec![MASTERS.into()],
            extra: Default::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chain_order_and_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open(SledConfig::new(dir.path().join("db"))).unwrap());
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, "admintoken,mallory,9\nt1,alice,1,\"devs,ops\"\n").unwrap();
        let auth = Authenticator::new();
        auth.add_token("admintoken", user("admin"));
        let pki = crate::pki::Paths::new(dir.path());
        let opts = AuthOptions {
            token_auth_file: Some(tokens),
            ..Default::default()
        };
        auth.configure(&opts, &pki, storage.clone()).unwrap();

        // No credentials.
        assert_eq!(auth.authenticate(&HeaderMap::new(), None).await, Ok(None));
        // The admin token is not overridden by the file.
        let a = auth.authenticate(&bearer("admintoken"), None).await;
        assert_eq!(a.unwrap().unwrap().name, "admin");
        let a = auth
            .authenticate(&bearer("t1"), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.name, "alice");
        assert_eq!(a.uid, "1");
        assert_eq!(a.groups, ["devs", "ops", AUTHENTICATED]);
        // Case-insensitive scheme.
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, "bearer t1".parse().unwrap());
        assert!(auth.authenticate(&h, None).await.unwrap().is_some());
        // kube's split: a third part is ignored, a doubled space is not a
        // token (and is reported so the response can carry kube's warning).
        h.insert(
            http::header::AUTHORIZATION,
            "Bearer t1 extra".parse().unwrap(),
        );
        assert_eq!(
            auth.authenticate(&h, None).await.unwrap().unwrap().name,
            "alice"
        );
        h.insert(http::header::AUTHORIZATION, "Bearer  t1".parse().unwrap());
        assert_eq!(
            auth.authenticate(&h, None).await,
            Err(AuthError::ExtraSpace)
        );
        assert!(bearer_has_extra_space(&h));
        h.insert(http::header::AUTHORIZATION, "Bearer t1".parse().unwrap());
        assert!(!bearer_has_extra_space(&h));

        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, "Basic YTpi".parse().unwrap());
        assert_eq!(auth.authenticate(&h, None).await, Err(AuthError::Malformed));
        assert_eq!(
            auth.authenticate(&bearer("nope"), None).await,
            Err(AuthError::Unknown)
        );
        // A JWT of an unknown issuer.
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
        };
        let foreign = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"ES256"}"#),
            b64(r#"{"iss":"https://evil"}"#),
            b64("sig")
        );
        assert_eq!(
            auth.authenticate(&bearer(&foreign), None).await,
            Err(AuthError::Unknown)
        );
        // A forged ServiceAccount token (right issuer, no valid signature).
        let forged = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"ES256"}"#),
            b64(&format!(
                r#"{{"iss":"{}"}}"#,
                service_account::DEFAULT_ISSUER
            )),
            b64("sig")
        );
        assert!(matches!(
            auth.authenticate(&bearer(&forged), None).await,
            Err(AuthError::Invalid(_))
        ));

        // A client certificate wins over the bearer token.
        let ca = crate::pki::Ca::load_or_create(&pki).unwrap();
        let (pem, _) = ca.issue_client("carol", &["team"]).unwrap();
        let der = rustls_pemfile::certs(&mut pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let peer = crate::serve::PeerCertificates(Arc::new(vec![der]));
        let u = auth
            .authenticate(&bearer("t1"), Some(&peer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(u.name, "carol");
        assert_eq!(u.groups, ["team", AUTHENTICATED]);
        // An empty chain (no client certificate) falls through.
        let none = crate::serve::PeerCertificates::default();
        let u = auth.authenticate(&bearer("t1"), Some(&none)).await.unwrap();
        assert_eq!(u.unwrap().name, "alice");

        // The signing key persists: a second configure reads the same key.
        let sa1 = auth.service_accounts().unwrap();
        let again = Authenticator::new();
        again
            .configure(&AuthOptions::default(), &pki, storage.clone())
            .unwrap();
        let sub = service_account::Subject {
            cluster: "root",
            namespace: "default",
            name: "bot",
            uid: "u",
        };
        let now = jiff::Timestamp::now().as_second();
        let t = sa1.issue(&sub, sa1.audiences(), now, 600).unwrap();
        assert!(again.service_accounts().unwrap().verify(&t).is_ok());
        storage.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn configuration_errors_are_startup_errors() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open(SledConfig::new(dir.path().join("db"))).unwrap());
        let pki = crate::pki::Paths::new(dir.path());
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "t1,alice\n").unwrap();
        let err = Authenticator::new()
            .configure(
                &AuthOptions {
                    token_auth_file: Some(bad),
                    ..Default::default()
                },
                &pki,
                storage.clone(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");

        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, crate::pki::Ca::load_or_create(&pki).unwrap().cert_pem).unwrap();
        let err = Authenticator::new()
            .configure(
                &AuthOptions {
                    oidc: Some(OidcOptions {
                        issuer_url: service_account::DEFAULT_ISSUER.into(),
                        client_id: "x".into(),
                        ca_file: Some(ca),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &pki,
                storage.clone(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("must differ"), "{err}");
        storage.close().await.unwrap();
    }
}
