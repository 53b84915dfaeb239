//! ServiceAccount tokens: short-lived JWTs the server signs itself
//! (TokenRequest, `kubectl create token`) and accepts back as bearer tokens.
//!
//! Design:
//! * One ECDSA P-256 signing key (ES256), generated once into the data
//!   directory (`pki/service-account.key`) and reused on restart, so tokens
//!   survive restarts. Its `kid` is the base64url SHA-256 of the public
//!   point. There is no rotation yet.
//! * Claims follow upstream's bound tokens: `iss`, `sub`
//!   (`system:serviceaccount:<ns>:<name>`), `aud`, `exp`, `iat`, `nbf`,
//!   `jti` and the private claim `kubernetes.io` =
//!   `{namespace, serviceaccount: {name, uid}, clusterName}`. `clusterName`
//!   is Trellis' (and kcp's) addition: the logical cluster the
//!   ServiceAccount lives in, because the same namespace/name exists in
//!   every workspace. No pod/secret/node binding.
//! * Verification is signature → `exp`/`nbf` (60 s leeway, as go-jose) →
//!   issuer → audience (must intersect the server's audiences, upstream's
//!   `--api-audiences`, default the issuer) → the ServiceAccount must still
//!   exist in storage with the token's uid and not be deleting. So deleting
//!   (or recreating) a ServiceAccount revokes its tokens at once; there is
//!   no revocation list because storage is the list.
//! * The user is `system:serviceaccount:<ns>:<name>` with uid = the SA's
//!   uid, groups `system:serviceaccounts`, `system:serviceaccounts:<ns>`
//!   (plus `system:authenticated`, added by the chain), and extras naming
//!   the logical cluster (`authentication.kcp.io/cluster-name`, what the
//!   authorizer uses to let a SA into its own workspace only) and the
//!   credential (`authentication.kubernetes.io/credential-id: JTI=<jti>`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_storage::Storage;
use trellis_storage::keys::Keyspace;

use super::{AuthError, UserInfo};

/// The issuer Trellis names in its tokens unless `--service-account-issuer`
/// says otherwise.
pub const DEFAULT_ISSUER: &str = "https://trellis.local";
/// `extra` key carrying the token's id, as upstream.
pub const CREDENTIAL_ID_EXTRA: &str = "authentication.kubernetes.io/credential-id";
/// Upstream's floor for a TokenRequest's `expirationSeconds`.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Upstream's ceiling (2^32 seconds).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// The default `expirationSeconds` of a TokenRequest.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// How ServiceAccount tokens are issued and accepted.
#[derive(Clone, Debug)]
pub struct ServiceAccountOptions {
    /// `iss` of issued tokens; only tokens with this issuer are accepted.
    pub issuer: String,
    /// Audiences the API server identifies as; a token must name one.
    /// Empty means `[issuer]` (upstream's default). TokenRequests without
    /// audiences get these.
    pub audiences: Vec<String>,
    /// Longer requested lifetimes are shortened to this (with a warning);
    /// values under the 10-minute minimum count as 10 minutes.
    pub max_expiration: Option<Duration>,
}

impl Default for ServiceAccountOptions {
    fn default() -> Self {
        ServiceAccountOptions {
            issuer: DEFAULT_ISSUER.into(),
            audiences: Vec::new(),
            max_expiration: None,
        }
    }
}

/// The `kubernetes.io` private claim.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KubernetesClaim {
    pub namespace: String,
    pub serviceaccount: ObjectRef,
    /// The logical cluster of the ServiceAccount.
    #[serde(rename = "clusterName")]
    pub cluster_name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// A ServiceAccount token's claims.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
}

/// The ServiceAccount a token is issued for.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// `system:serviceaccount:<ns>:<name>`.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Issues and verifies ServiceAccount tokens.
pub struct ServiceAccounts {
    issuer: String,
    audiences: Vec<String>,
    max_expiration: Option<i64>,
    key: EncodingKey,
    public: DecodingKey,
    kid: String,
    storage: Arc<dyn Storage>,
}

impl ServiceAccounts {
    /// `key_pem` is the PKCS#8 P-256 signing key.
    pub fn new(
        opts: &ServiceAccountOptions,
        key_pem: &str,
        storage: Arc<dyn Storage>,
    ) -> Result<Self, String> {
        super::jwt::install();
        if opts.issuer.is_empty() {
            return Err("the service account issuer must not be empty".into());
        }
        let der = match rustls_pemfile::private_key(&mut key_pem.as_bytes()) {
            Ok(Some(rustls::pki_types::PrivateKeyDer::Pkcs8(k))) => k.secret_pkcs8_der().to_vec(),
            _ => return Err("the service account key is not a PKCS#8 PEM private key".into()),
        };
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|_| "the service account key is not an ECDSA P-256 key".to_string())?;
        let point = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(ring::digest::digest(&ring::digest::SHA256, &point));
        let audiences = if opts.audiences.is_empty() {
            vec![opts.issuer.clone()]
        } else {
            opts.audiences.clone()
        };
        Ok(ServiceAccounts {
            issuer: opts.issuer.clone(),
            audiences,
            max_expiration: opts
                .max_expiration
                .map(|d| (d.as_secs() as i64).max(MIN_EXPIRATION_SECONDS)),
            key: EncodingKey::from_ec_der(&der),
            public: DecodingKey::from_ec_der(&point),
            kid,
            storage,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences a TokenRequest without any gets.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The configured lifetime cap, in seconds.
    pub fn max_expiration(&self) -> Option<i64> {
        self.max_expiration
    }

    /// Signs a token for `sa`, valid from `now` for `seconds`.
    pub fn issue(
        &self,
        sa: &Subject<'_>,
        audiences: &[String],
        now: i64,
        seconds: i64,
    ) -> Result<String, String> {
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: username(sa.namespace, sa.name),
            aud: audiences.to_vec(),
            exp: now + seconds,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaim {
                namespace: sa.namespace.into(),
                serviceaccount: ObjectRef {
                    name: sa.name.into(),
                    uid: sa.uid.into(),
                },
                cluster_name: sa.cluster.into(),
            },
        };
        self.sign(&claims)
    }

    fn sign(&self, claims: &Claims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| e.to_string())
    }

    /// Checks signature, times, issuer, audience and the claims' shape;
    /// not whether the ServiceAccount still exists.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_for(token, &self.audiences)
    }

    /// [`verify`](Self::verify) for a TokenReview's audiences: the token's
    /// must include one of `audiences` instead of one of the server's.
    pub fn verify_for(&self, token: &str, audiences: &[String]) -> Result<Claims, AuthError> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        v.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token, &self.public, &v)
            .map_err(|e| AuthError::Invalid(format!("service account token: {e}")))?;
        let c = data.claims;
        let k = &c.kubernetes;
        if k.namespace.is_empty()
            || k.serviceaccount.name.is_empty()
            || k.serviceaccount.uid.is_empty()
            || k.cluster_name.is_empty()
            || c.sub != username(&k.namespace, &k.serviceaccount.name)
        {
            return Err(AuthError::Invalid(
                "service account token: inconsistent claims".into(),
            ));
        }
        Ok(c)
    }

    /// The user a valid token of an existing ServiceAccount stands for.
    pub async fn authenticate(&self, token: &str) -> Result<UserInfo, AuthError> {
        self.authenticate_for(token, &self.audiences)
            .await
            .map(|(u, _)| u)
    }

    /// [`authenticate`](Self::authenticate) for `audiences`; also the
    /// token's audiences among them.
    pub async fn authenticate_for(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<(UserInfo, Vec<String>), AuthError> {
        let c = self.verify_for(token, audiences)?;
        let k = &c.kubernetes;
        let key = Keyspace::new("", "serviceaccounts", None)
            .and_then(|ks| ks.object(&k.cluster_name, &k.namespace, &k.serviceaccount.name))
            .map_err(|e| AuthError::Invalid(format!("service account token: {e}")))?;
        let record =
            self.storage.get(&key).await.map_err(|e| {
                AuthError::Unavailable(format!("looking up the service account: {e}"))
            })?;
        let revoked = |why: &str| {
            AuthError::Invalid(format!(
                "service account token: {}/{} in {} {why}",
                k.namespace, k.serviceaccount.name, k.cluster_name
            ))
        };
        let Some(record) = record else {
            return Err(revoked("no longer exists"));
        };
        let sa: Value = serde_json::from_slice(&record.value)
            .map_err(|e| AuthError::Unavailable(format!("stored service account: {e}")))?;
        let uid = sa.pointer("/metadata/uid").and_then(Value::as_str);
        if uid != Some(k.serviceaccount.uid.as_str()) {
            return Err(revoked("was recreated (uid differs)"));
        }
        if sa
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
        {
            return Err(revoked("is being deleted"));
        }
        let matched = audiences
            .iter()
            .filter(|a| c.aud.contains(a))
            .cloned()
            .collect();
        Ok((user_info(&c), matched))
    }
}

/// The user of verified claims.
pub fn user_info(c: &Claims) -> UserInfo {
    let k = &c.kubernetes;
    let mut extra = BTreeMap::new();
    extra.insert(
        crate::authz::cache::CLUSTER_NAME_EXTRA.to_string(),
        vec![k.cluster_name.clone()],
    );
    extra.insert(
        CREDENTIAL_ID_EXTRA.to_string(),
        vec![format!("JTI={}", c.jti)],
    );
    UserInfo {
        name: c.sub.clone(),
        uid: k.serviceaccount.uid.clone(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", k.namespace),
        ],
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_storage::{SledConfig, SledStorage};

    fn key_pem() -> String {
        rcgen::KeyPair::generate().unwrap().serialize_pem()
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        storage: Arc<dyn Storage>,
        sa: ServiceAccounts,
    }

    fn fixture(opts: ServiceAccountOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open(SledConfig::new(dir.path().join("db"))).unwrap());
        let sa = ServiceAccounts::new(&opts, &key_pem(), storage.clone()).unwrap();
        Fixture {
            _dir: dir,
            storage,
            sa,
        }
    }

    const BOT: Subject<'static> = Subject {
        cluster: "root",
        namespace: "default",
        name: "bot",
        uid: "uid-1",
    };

    fn now() -> i64 {
        jiff::Timestamp::now().as_second()
    }

    #[test]
    fn issued_tokens_verify_with_upstream_claims() {
        let f = fixture(ServiceAccountOptions::default());
        assert_eq!(f.sa.audiences(), [DEFAULT_ISSUER]);
        let t = f.sa.issue(&BOT, f.sa.audiences(), now(), 3600).unwrap();
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert!(header.kid.is_some());
        let c = f.sa.verify(&t).unwrap();
        assert_eq!(c.sub, "system:serviceaccount:default:bot");
        assert_eq!(c.iss, DEFAULT_ISSUER);
        assert_eq!(c.exp - c.iat, 3600);
        let raw: Value = jsonwebtoken::dangerous::insecure_decode_claims(&t).unwrap();
        assert_eq!(raw["kubernetes.io"]["serviceaccount"]["uid"], "uid-1");
        assert_eq!(raw["kubernetes.io"]["clusterName"], "root");
        assert_eq!(raw["kubernetes.io"]["namespace"], "default");

        let u = user_info(&c);
        assert_eq!(u.name, "system:serviceaccount:default:bot");
        assert_eq!(u.uid, "uid-1");
        assert_eq!(
            u.groups,
            ["system:serviceaccounts", "system:serviceaccounts:default"]
        );
        assert_eq!(
            u.extra[crate::authz::cache::CLUSTER_NAME_EXTRA],
            vec!["root".to_string()]
        );
        assert_eq!(u.extra[CREDENTIAL_ID_EXTRA], vec![format!("JTI={}", c.jti)]);
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        let f = fixture(ServiceAccountOptions::default());
        let aud = f.sa.audiences().to_vec();
        // Past the 60 s leeway.
        let t = f.sa.issue(&BOT, &aud, now() - 4000, 3600).unwrap();
        assert!(f.sa.verify(&t).unwrap_err().to_string().contains("xpired"));
        // Within the leeway still works.
        let t = f.sa.issue(&BOT, &aud, now() - 3630, 3600).unwrap();
        assert!(f.sa.verify(&t).is_ok());
        // nbf in the future.
        let t = f.sa.issue(&BOT, &aud, now() + 600, 3600).unwrap();
        assert!(f.sa.verify(&t).is_err());
    }

    #[test]
    fn wrong_issuer_audience_key_or_signature_is_refused() {
        let f = fixture(ServiceAccountOptions::default());
        // Wrong audience.
        let t = f.sa.issue(&BOT, &["other".into()], now(), 3600).unwrap();
        assert!(f.sa.verify(&t).unwrap_err().to_string().contains("udience"));
        // Audiences need only intersect.
        let t =
            f.sa.issue(&BOT, &["other".into(), DEFAULT_ISSUER.into()], now(), 3600)
                .unwrap();
        assert!(f.sa.verify(&t).is_ok());

        // Another server (issuer) with its own key.
        let other = fixture(ServiceAccountOptions {
            issuer: "https://elsewhere".into(),
            audiences: vec![DEFAULT_ISSUER.into()],
            max_expiration: None,
        });
        let t = other
            .sa
            .issue(&BOT, &[DEFAULT_ISSUER.into()], now(), 3600)
            .unwrap();
        assert!(f.sa.verify(&t).is_err());
        // Same issuer name, different key.
        let twin = fixture(ServiceAccountOptions::default());
        let t = twin
            .sa
            .issue(&BOT, &[DEFAULT_ISSUER.into()], now(), 3600)
            .unwrap();
        assert!(
            f.sa.verify(&t)
                .unwrap_err()
                .to_string()
                .contains("ignature")
        );

        // Tampered payload: promote the token to another account.
        let t = f.sa.issue(&BOT, f.sa.audiences(), now(), 3600).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = "system:serviceaccount:kube-system:admin".into();
        claims["kubernetes.io"]["serviceaccount"]["name"] = "admin".into();
        claims["kubernetes.io"]["namespace"] = "kube-system".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(claims.to_string()),
            parts[2]
        );
        assert!(f.sa.verify(&forged).is_err());
        // Signed claims that disagree with themselves.
        let mut c = f.sa.verify(&t).unwrap();
        c.sub = "system:serviceaccount:default:someone-else".into();
        let t = f.sa.sign(&c).unwrap();
        assert!(f.sa.verify(&t).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_die_with_their_service_account() {
        let f = fixture(ServiceAccountOptions::default());
        let key = Keyspace::new("", "serviceaccounts", None)
            .unwrap()
            .object("root", "default", "bot")
            .unwrap();
        let t = f.sa.issue(&BOT, f.sa.audiences(), now(), 3600).unwrap();
        // Not created yet.
        assert!(f.sa.authenticate(&t).await.is_err());
        let obj = |uid: &str| trellis_storage::Value {
            bytes: serde_json::to_vec(&serde_json::json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "bot", "namespace": "default", "uid": uid}
            }))
            .unwrap()
            .into(),
            revision_slot: None,
        };
        f.storage
            .create(key.clone(), obj("uid-1"), None)
            .await
            .unwrap();
        let u = f.sa.authenticate(&t).await.unwrap();
        assert_eq!(u.name, "system:serviceaccount:default:bot");
        // The same name in another logical cluster is another account.
        let elsewhere = Subject {
            cluster: "abc",
            ..BOT
        };
        let t2 =
            f.sa.issue(&elsewhere, f.sa.audiences(), now(), 3600)
                .unwrap();
        assert!(f.sa.authenticate(&t2).await.is_err());
        // Recreated with a new uid: old tokens are dead.
        f.storage
            .delete(key.clone(), Default::default())
            .await
            .unwrap();
        assert!(f.sa.authenticate(&t).await.is_err());
        f.storage
            .create(key.clone(), obj("uid-2"), None)
            .await
            .unwrap();
        assert!(f.sa.authenticate(&t).await.is_err());
        f.storage.close().await.unwrap();
    }

    #[test]
    fn keys_must_be_p256_pkcs8() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open(SledConfig::new(dir.path().join("db"))).unwrap());
        let opts = ServiceAccountOptions::default();
        assert!(ServiceAccounts::new(&opts, "garbage", storage.clone()).is_err());
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .unwrap()
            .serialize_pem();
        assert!(ServiceAccounts::new(&opts, &p384, storage).is_err());
    }
}
