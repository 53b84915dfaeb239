//! OpenID Connect ID tokens from an external issuer (`--oidc-*` flags).
//!
//! Design and invariants:
//! * The issuer's keys are discovered lazily: nothing is fetched at
//!   start-up (the issuer may start after us), the first OIDC token
//!   triggers `<issuer>/.well-known/openid-configuration` → `jwks_uri` →
//!   the key set. A token naming an unknown `kid` triggers a refetch (key
//!   rotation), at most one fetch per [`REFRESH_INTERVAL`] and one at a
//!   time, so garbage tokens cannot make us hammer the issuer. A failed
//!   fetch fails only the request at hand (401, detail in the log).
//! * Only HTTPS, with roots from `--oidc-ca-file`, else the host's CA
//!   bundle (the usual files, or `$SSL_CERT_FILE`). The discovery
//!   document must name exactly the configured issuer, as go-oidc insists.
//! * Only asymmetric signatures ([`super::jwt::ASYMMETRIC`]); a key is
//!   used only for its own type (and its `alg`, when the JWK names one).
//! * Checks, as upstream: signature, `iss` == issuer URL, `aud` contains
//!   the client id, `exp` (and `nbf` when present), 60 s leeway; the
//!   username claim must be a non-empty string, and when it is `email`,
//!   `email_verified` must not be false. Groups may be a string or a list.
//! * Usernames get upstream's prefix rules: no `--oidc-username-prefix`
//!   means `<issuer>#` unless the claim is `email`; `-` means none.
//!
//! The HTTP client is hyper's HTTP/1.1 connection API over tokio-rustls —
//! two GETs of small JSON documents need no pooling client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde_json::{Map, Value};

use super::{AuthError, UserInfo};

/// Minimum time between two key fetches.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// Bound on one fetch (connect, TLS, request, body).
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on a discovery document or key set.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The `--oidc-*` flags.
#[derive(Clone, Debug, Default)]
pub struct OidcOptions {
    /// `--oidc-issuer-url`: HTTPS URL, exactly as in the tokens' `iss`.
    pub issuer_url: String,
    /// `--oidc-client-id`: must be among the tokens' audiences.
    pub client_id: String,
    /// `--oidc-username-claim` (default `sub`).
    pub username_claim: String,
    /// `--oidc-username-prefix`; see the module docs.
    pub username_prefix: Option<String>,
    /// `--oidc-groups-claim`; no groups when unset.
    pub groups_claim: Option<String>,
    /// `--oidc-groups-prefix`.
    pub groups_prefix: Option<String>,
    /// `--oidc-ca-file`: PEM roots for the issuer's HTTPS.
    pub ca_file: Option<PathBuf>,
}

/// One verification key of the issuer.
struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// Verifies ID tokens of one issuer.
pub struct Oidc {
    issuer: String,
    client_id: String,
    username_claim: String,
    username_prefix: String,
    groups_claim: Option<String>,
    groups_prefix: String,
    discovery: http::Uri,
    tls: Arc<rustls::ClientConfig>,
    keys: RwLock<Option<Arc<Vec<Key>>>>,
    /// When the last fetch was attempted (successful or not).
    last_fetch: parking_lot::Mutex<Option<Instant>>,
    /// Serialises fetches.
    fetching: tokio::sync::Mutex<()>,
}

impl Oidc {
    /// Checks the options and prepares the TLS roots; fetches nothing.
    pub fn new(opts: &OidcOptions) -> Result<Self, String> {
        super::jwt::install();
        let issuer = opts.issuer_url.clone();
        let uri: http::Uri = issuer
            .parse()
            .map_err(|e| format!("--oidc-issuer-url {issuer:?}: {e}"))?;
        if uri.scheme_str() != Some("https") || uri.host().is_none() {
            return Err(format!(
                "--oidc-issuer-url {issuer:?} must be an https:// URL"
            ));
        }
        if uri.query().is_some() {
            return Err(format!(
                "--oidc-issuer-url {issuer:?} must not have a query"
            ));
        }
        if opts.client_id.is_empty() {
            return Err("--oidc-client-id is required with --oidc-issuer-url".into());
        }
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
        .parse()
        .map_err(|e| format!("--oidc-issuer-url {issuer:?}: {e}"))?;
        let username_claim = if opts.username_claim.is_empty() {
            "sub".to_string()
        } else {
            opts.username_claim.clone()
        };
        let username_prefix = match opts.username_prefix.as_deref() {
            Some("-") => String::new(),
            Some(p) if !p.is_empty() => p.to_string(),
            _ if username_claim == "email" => String::new(),
            _ => format!("{issuer}#"),
        };
        Ok(Oidc {
            issuer,
            client_id: opts.client_id.clone(),
            username_claim,
            username_prefix,
            groups_claim: opts.groups_claim.clone().filter(|c| !c.is_empty()),
            groups_prefix: opts.groups_prefix.clone().unwrap_or_default(),
            discovery,
            tls: client_tls(opts.ca_file.as_deref())?,
            keys: RwLock::new(None),
            last_fetch: parking_lot::Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The user an ID token stands for.
    pub async fn authenticate(&self, token: &str) -> Result<UserInfo, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("oidc: token header: {e}")))?;
        if !super::jwt::ASYMMETRIC.contains(&header.alg) {
            return Err(AuthError::Invalid(format!(
                "oidc: signing algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let mut keys = self.keys.read().clone();
        let known = keys.as_ref().is_some_and(|k| {
            candidates(k, header.kid.as_deref(), header.alg)
                .next()
                .is_some()
        });
        if !known {
            keys = Some(self.refresh().await?);
        }
        let keys = keys.unwrap_or_default();
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = true;
        let mut last = AuthError::Invalid(format!(
            "oidc: no key of the issuer matches kid {:?} and {:?}",
            header.kid, header.alg
        ));
        for key in candidates(&keys, header.kid.as_deref(), header.alg) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &v) {
                Ok(data) => return self.user(&data.claims),
                // Without a kid, several keys may fit: try the next.
                Err(e) => last = AuthError::Invalid(format!("oidc: {e}")),
            }
        }
        Err(last)
    }

    /// Maps verified claims to the user.
    pub fn user(&self, claims: &Map<String, Value>) -> Result<UserInfo, AuthError> {
        let bad = |m: String| AuthError::Invalid(format!("oidc: {m}"));
        let name = match claims.get(&self.username_claim) {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(_) => {
                return Err(bad(format!(
                    "claim {:?} is not a non-empty string",
                    self.username_claim
                )));
            }
            None => return Err(bad(format!("claim {:?} not present", self.username_claim))),
        };
        if self.username_claim == "email" {
            match claims.get("email_verified") {
                None | Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) => return Err(bad("email not verified".into())),
                Some(_) => return Err(bad("claim \"email_verified\" is not a boolean".into())),
            }
        }
        let groups = match self.groups_claim.as_ref().and_then(|c| claims.get(c)) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(g)) => vec![g.clone()],
            Some(Value::Array(gs)) => gs
                .iter()
                .map(|g| g.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("groups claim is not a list of strings".into()))?,
            Some(_) => return Err(bad("groups claim is not a string or a list".into())),
        };
        Ok(UserInfo {
            name: format!("{}{name}", self.username_prefix),
            uid: String::new(),
            groups: groups
                .into_iter()
                .map(|g| format!("{}{g}", self.groups_prefix))
                .collect(),
            extra: Default::default(),
        })
    }

    /// Fetches the key set unless another fetch just happened; returns the
    /// keys now known.
    async fn refresh(&self) -> Result<Arc<Vec<Key>>, AuthError> {
        let _one = self.fetching.lock().await;
        let recent = self
            .last_fetch
            .lock()
            .is_some_and(|t| t.elapsed() < REFRESH_INTERVAL);
        if recent {
            return self.keys.read().clone().ok_or_else(|| {
                AuthError::Unavailable("oidc: the issuer's keys could not be fetched".into())
            });
        }
        *self.last_fetch.lock() = Some(Instant::now());
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch()).await {
            Ok(Ok(keys)) => {
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "fetched OIDC keys");
                let keys = Arc::new(keys);
                *self.keys.write() = Some(keys.clone());
                Ok(keys)
            }
            Ok(Err(e)) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "fetching OIDC keys failed");
                Err(AuthError::Unavailable(format!("oidc: fetching keys: {e}")))
            }
            Err(_) => {
                tracing::warn!(issuer = %self.issuer, "fetching OIDC keys timed out");
                Err(AuthError::Unavailable(
                    "oidc: fetching keys timed out".into(),
                ))
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<Key>, String> {
        let doc: Value = serde_json::from_slice(&self.get(&self.discovery).await?)
            .map_err(|e| format!("discovery document: {e}"))?;
        let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
        if issuer != self.issuer {
            return Err(format!(
                "discovery document names issuer {issuer:?}, expected {:?}",
                self.issuer
            ));
        }
        let jwks_uri: http::Uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("discovery document has no jwks_uri")?
            .parse()
            .map_err(|e| format!("jwks_uri: {e}"))?;
        if jwks_uri.scheme_str() != Some("https") {
            return Err("jwks_uri must be https".into());
        }
        let set: Value = serde_json::from_slice(&self.get(&jwks_uri).await?)
            .map_err(|e| format!("key set: {e}"))?;
        parse_key_set(&set)
    }

    /// One HTTPS GET returning a 200 body.
    async fn get(&self, uri: &http::Uri) -> Result<Bytes, String> {
        let host = uri.host().ok_or("URL without host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(443);
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("server name {host}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}:{port}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP with {host}:{port}: {e}"))?;
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
        let req = http::Request::get(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header(http::header::HOST, authority)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("GET {uri}: {e}"))?;
        if resp.status() != http::StatusCode::OK {
            conn.abort();
            return Err(format!("GET {uri}: {}", resp.status()));
        }
        let body = Limited::new(resp.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| format!("GET {uri}: {e}"))?
            .to_bytes();
        conn.abort();
        Ok(body)
    }
}

/// Keys that may have signed a token with `kid` and `alg`.
fn candidates<'a>(
    keys: &'a [Key],
    kid: Option<&'a str>,
    alg: Algorithm,
) -> impl Iterator<Item = &'a Key> + 'a {
    keys.iter().filter(move |k| {
        (kid.is_none() || k.kid.as_deref() == kid)
            && k.key.family() == alg.family()
            && k.alg.is_none_or(|a| a == alg)
    })
}

/// The signature keys of a JWK set; keys of unknown or unusable types are
/// skipped (a set may hold encryption keys or newer algorithms).
fn parse_key_set(set: &Value) -> Result<Vec<Key>, String> {
    let list = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("key set has no \"keys\" list")?;
    let mut out = Vec::new();
    for raw in list {
        if raw
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            tracing::debug!("skipping an unreadable JWK");
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let alg = match raw.get("alg").and_then(Value::as_str) {
            None => None,
            Some(a) => match a.parse::<Algorithm>() {
                Ok(a) if super::jwt::ASYMMETRIC.contains(&a) => Some(a),
                _ => continue,
            },
        };
        if key.family() == jsonwebtoken::AlgorithmFamily::Hmac {
            continue;
        }
        out.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if out.is_empty() {
        return Err("key set has no usable signature key".into());
    }
    Ok(out)
}

fn client_tls(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let path = match ca_file {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .into_iter()
            .chain(
                crate::webhook::client::SYSTEM_BUNDLES
                    .iter()
                    .map(PathBuf::from),
            )
            .find(|p| p.is_file())
            .ok_or("no --oidc-ca-file given and no system CA bundle found")?,
    };
    let pem = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        // A system bundle may hold a certificate rustls cannot use; skip it.
        if let Err(e) = roots.add(cert)
            && ca_file.is_some()
        {
            return Err(format!("{}: {e}", path.display()));
        }
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificates", path.display()));
    }
    crate::webhook::client::tls_config(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ca_file() -> tempfile::NamedTempFile {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::default();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key).unwrap();
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), cert.pem()).unwrap();
        f
    }

    fn oidc(f: &tempfile::NamedTempFile, edit: impl FnOnce(&mut OidcOptions)) -> Oidc {
        let mut o = OidcOptions {
            issuer_url: "https://idp.example".into(),
            client_id: "trellis".into(),
            ca_file: Some(f.path().to_path_buf()),
            ..Default::default()
        };
        edit(&mut o);
        Oidc::new(&o).unwrap()
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn username_prefix_rules_follow_upstream() {
        let f = ca_file();
        let c = claims(json!({"sub": "1234", "email": "a@b.c", "email_verified": true}));
        // Default claim `sub`, no prefix flag: issuer#.
        let o = oidc(&f, |_| {});
        assert_eq!(o.user(&c).unwrap().name, "https://idp.example#1234");
        // `-` disables.
        let o = oidc(&f, |o| o.username_prefix = Some("-".into()));
        assert_eq!(o.user(&c).unwrap().name, "1234");
        // An explicit prefix.
        let o = oidc(&f, |o| o.username_prefix = Some("oidc:".into()));
        assert_eq!(o.user(&c).unwrap().name, "oidc:1234");
        // email: no prefix unless asked for.
        let o = oidc(&f, |o| o.username_claim = "email".into());
        assert_eq!(o.user(&c).unwrap().name, "a@b.c");
        let o = oidc(&f, |o| {
            o.username_claim = "email".into();
            o.username_prefix = Some("oidc:".into());
        });
        assert_eq!(o.user(&c).unwrap().name, "oidc:a@b.c");
    }

    #[test]
    fn email_must_not_be_unverified() {
        let f = ca_file();
        let o = oidc(&f, |o| o.username_claim = "email".into());
        assert!(o.user(&claims(json!({"email": "a@b.c"}))).is_ok());
        assert!(
            o.user(&claims(json!({"email": "a@b.c", "email_verified": false})))
                .is_err()
        );
        assert!(
            o.user(&claims(json!({"email": "a@b.c", "email_verified": "yes"})))
                .is_err()
        );
        // Only for the email claim.
        let o = oidc(&f, |_| {});
        assert!(
            o.user(&claims(json!({"sub": "x", "email_verified": false})))
                .is_ok()
        );
        // The username claim must be a non-empty string.
        assert!(o.user(&claims(json!({"email": "a@b.c"}))).is_err());
        assert!(o.user(&claims(json!({"sub": ""}))).is_err());
        assert!(o.user(&claims(json!({"sub": 7}))).is_err());
    }

    #[test]
    fn groups_claim_and_prefix() {
        let f = ca_file();
        let o = oidc(&f, |o| {
            o.groups_claim = Some("groups".into());
            o.groups_prefix = Some("oidc:".into());
        });
        let u = o
            .user(&claims(json!({"sub": "x", "groups": ["a", "b"]})))
            .unwrap();
        assert_eq!(u.groups, ["oidc:a", "oidc:b"]);
        let u = o.user(&claims(json!({"sub": "x", "groups": "a"}))).unwrap();
        assert_eq!(u.groups, ["oidc:a"]);
        assert!(
            o.user(&claims(json!({"sub": "x"})))
                .unwrap()
                .groups
                .is_empty()
        );
        assert!(o.user(&claims(json!({"sub": "x", "groups": [1]}))).is_err());
        assert!(
            o.user(&claims(json!({"sub": "x", "groups": {"a": 1}})))
                .is_err()
        );
        // No groups claim configured: groups in the token are ignored.
        let o = oidc(&f, |_| {});
        let u = o
            .user(&claims(json!({"sub": "x", "groups": ["a"]})))
            .unwrap();
        assert!(u.groups.is_empty());
    }

    #[test]
    fn options_are_checked_up_front() {
        let f = ca_file();
        let try_new = |edit: &dyn Fn(&mut OidcOptions)| {
            let mut o = OidcOptions {
                issuer_url: "https://idp.example".into(),
                client_id: "trellis".into(),
                ca_file: Some(f.path().to_path_buf()),
                ..Default::default()
            };
            edit(&mut o);
            Oidc::new(&o).err()
        };
        assert!(try_new(&|_| {}).is_none());
        assert!(try_new(&|o| o.issuer_url = "http://idp.example".into()).is_some());
        assert!(try_new(&|o| o.issuer_url = "not a url".into()).is_some());
        assert!(try_new(&|o| o.client_id.clear()).is_some());
        assert!(try_new(&|o| o.ca_file = Some("/nonexistent".into())).is_some());
    }

    #[test]
    fn key_sets_keep_signature_keys_only() {
        let set = json!({"keys": [
            {"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig",
             "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
             "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc",
             "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
             "e": "AQAB"},
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "weird", "kid": "w"}
        ]});
        let keys = parse_key_set(&set).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("r1"));
        assert_eq!(candidates(&keys, Some("r1"), Algorithm::RS256).count(), 1);
        assert_eq!(candidates(&keys, None, Algorithm::RS256).count(), 1);
        assert_eq!(candidates(&keys, Some("r2"), Algorithm::RS256).count(), 0);
        // The JWK says RS256: not usable for PS256 or ES256.
        assert_eq!(candidates(&keys, Some("r1"), Algorithm::PS256).count(), 0);
        assert_eq!(candidates(&keys, Some("r1"), Algorithm::ES256).count(), 0);
        assert!(parse_key_set(&json!({"keys": []})).is_err());
        assert!(parse_key_set(&json!({})).is_err());
    }

    /// A throwaway 2048-bit RSA key, for RS256 (ring cannot generate RSA
    /// keys).
    const RSA_TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCbgTLJEQmn+LrN\ndLKxd1BqzVFXheyJtWARhbnKTw/miwb40PMA0nOhHMydf/dpdoPiBpT/lQ6L9xI0\nMtKJMORklZ4woc7LHnoVWDhNqkRiWk2Qhf8zkWjVtc3yIVFEdY//8Py+v76qqG1J\n1+tNJEUljpz63jVf943qp+cQBRy9oJiLDxvUieYQJPAKEUVVzf9s4/W02UBxUMKT\nXBvvL9ZemHVv2R07FXgHnU/9TJY03RGGHrgJIjl/C5T7CYBx1gqpt4jd8TuEuxzI\nXVoAwj0/dgPiFpdTxa9PcLkdb+8BCCz21M2igQB3KjdwSMoCxry3vO6TqByjTlWl\nU0x9asetAgMBAAECggEAF9b1nAlDzjUIdQau0xx5ac436gTq5O0MoShmTxjSKrll\n+bpALtWUtX6ZSIy9jN+xoJ1QCri6xgQRjeARZ8fk6R4I5j1q2w09O815CusPWHat\n989FzGLpTAN3Dbzu3QxwOurNN0m6Z3uyZC+OcBafOn6ZHAVPRdBJY6VBprKUm+YS\n9DbNjVjz+dyXS1HBuarzsIqyhBFWmJf+KlCpmSR/y99OChzNp3CgoMwPYaLE4O9z\n/PWe885gkEuXhmqG0eFlKOScM9GbG05k80xUzYii6dF9CS764xyAFuGbC1sMMlY0\nYPvdgNT/641gHh2vGyM9o8n27FpVER/LsVrgklLc7wKBgQDJXAgJ8Dtukuywym5x\n1Bh5ZWsn4feb6QDySozaYwg6XRMsFRf+T/AkFdlT0hKAYa2mzO1zehrc3vSolnNm\nlsseSd12cIBoetGzKEGdynsfBksU4CQ4ELpnC53Irt7D5mgVrW7l0c+aB9P8DiBI\nY9WwCrUaM/a/j0tH0x580pf85wKBgQDFs72/yarPZAf9Ej8m+esZN8AjNVfpX0dL\n9+YIcH5wDEvI+xTnhOr4CU7xdC89LXS9re+jZpRjL65tP5eyKvnTSmqbqvmhtTD7\nrelGKt5fMrCZqJfG3WDSSJ0MCTkVU3GRXCdLHz0ak28o3knJKyKubwxa95R7+CUO\npk2C8ljQSwKBgDl3mpO7jDqyk/qgy4SRE6sR1tM7Gn/UsAB2ZlythtuhVKdwHbjm\n95JU6gGSItWhCv5f3iTm5GPE/e5fge/1eWLbkekLkpo+8zo+cvulnh3sneEHV07o\n90oRdqafwdQHHg2RweS1TJqZQVbecTg3xfTIGYew7Ose6k1FY54cPGRhAoGBAIe8\ntJatG31wrJtwn7Ne+69Au8ZwpX8xT341IdbBhc3gY1gGK4AZnknV+kGFB7n1L6Xb\neiCyGUdQQW34r2pAX25WNYPTi7ke8haafQMUA8FQyDd3rV14OTWnbUwKOQsPU3X9\n02ycchOBDlz84aQg3Zrt24nJWkUTRj4cqDMzuQ6pAoGBAJ0CfNzmDQbdEYMfUMxR\n7mnYjvUjvwJ0Z8NVw6BXlB4FcumVlp6XlxEIG6ZBbQLkDrzMUsnA9tuk4JQlGuLC\nrztIE44ZPla+WQeOAAZAVhbsGtDKbcCdw18RzUSx3OFVsZSfOoN8NSf8+UWNLGnY\nATTDjB6a6+bs2UQm0hR20oms\n-----END PRIVATE KEY-----";

    fn rs256(claims: &Value, kid: &str, alg: &str) -> (String, Value) {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let der = rustls_pemfile::private_key(&mut RSA_TEST_KEY.as_bytes())
            .unwrap()
            .unwrap();
        let pair = ring::signature::RsaKeyPair::from_pkcs8(der.secret_der()).unwrap();
        let public: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": b64.encode(&public.n),
            "e": b64.encode(&public.e),
        });
        let input = format!(
            "{}.{}",
            b64.encode(json!({"alg": alg, "kid": kid}).to_string()),
            b64.encode(claims.to_string())
        );
        let padding: &dyn ring::signature::RsaEncoding = match alg {
            "PS256" => &ring::signature::RSA_PSS_SHA256,
            _ => &ring::signature::RSA_PKCS1_SHA256,
        };
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            padding,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        (format!("{input}.{}", b64.encode(sig)), jwk)
    }

    #[tokio::test]
    async fn rs256_tokens_verify_against_cached_keys() {
        let f = ca_file();
        let o = oidc(&f, |o| o.groups_claim = Some("groups".into()));
        let now = jiff::Timestamp::now().as_second();
        let good = json!({"iss": "https://idp.example", "aud": "trellis", "sub": "42",
                          "exp": now + 300, "groups": ["g"]});
        let (token, jwk) = rs256(&good, "r1", "RS256");
        *o.keys.write() = Some(Arc::new(parse_key_set(&json!({"keys": [jwk]})).unwrap()));
        // Pretend the keys were just fetched: no network here.
        *o.last_fetch.lock() = Some(Instant::now());
        let u = o.authenticate(&token).await.unwrap();
        assert_eq!(u.name, "https://idp.example#42");
        assert_eq!(u.groups, ["g"]);

        let mut expired = good.clone();
        expired["exp"] = json!(now - 3600);
        assert!(
            o.authenticate(&rs256(&expired, "r1", "RS256").0)
                .await
                .is_err()
        );
        let mut other_aud = good.clone();
        other_aud["aud"] = json!(["a", "b"]);
        assert!(
            o.authenticate(&rs256(&other_aud, "r1", "RS256").0)
                .await
                .is_err()
        );
        let mut other_iss = good.clone();
        other_iss["iss"] = json!("https://idp.example/");
        assert!(
            o.authenticate(&rs256(&other_iss, "r1", "RS256").0)
                .await
                .is_err()
        );
        // The JWK is for RS256 only.
        assert!(
            o.authenticate(&rs256(&good, "r1", "PS256").0)
                .await
                .is_err()
        );
        // Unknown kid, and no refetch allowed yet: refused without network.
        assert!(
            o.authenticate(&rs256(&good, "r2", "RS256").0)
                .await
                .is_err()
        );
        // Tampered payload.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        use base64::Engine;
        let mut c = good.clone();
        c["sub"] = json!("root");
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
        assert!(o.authenticate(&parts.join(".")).await.is_err());
        // An unsigned ("none") token.
        let none = format!(
            "{}.{}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert!(o.authenticate(&none).await.is_err());
    }
}
