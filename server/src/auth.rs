//! Authentication: who is making a request.
//!
//! Every request except the health endpoints must authenticate; a missing
//! or unknown credential is a 401 `Status`. Authenticators are tried in a
//! fixed order; bearer tokens from the server's token table come first (the
//! admin kubeconfig's token is one of them).

use std::collections::HashMap;

use http::HeaderMap;
use parking_lot::RwLock;

/// The authenticated user (`user.Info`); the same type the RBAC layer
/// decides on.
pub use trellis_apis::rbac::UserInfo;

pub const AUTHENTICATED: &str = "system:authenticated";
pub const MASTERS: &str = "system:masters";

/// Static bearer tokens (the admin token, `--token-auth-file` entries).
#[derive(Default)]
pub struct Authenticator {
    tokens: RwLock<HashMap<String, UserInfo>>,
}

impl Authenticator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_token(&self, token: impl Into<String>, user: UserInfo) {
        self.tokens.write().insert(token.into(), user);
    }

    /// `Ok(None)` when the request carries no credentials at all.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        _peer: Option<&crate::serve::PeerCertificates>,
    ) -> Result<Option<UserInfo>, AuthError> {
        let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let Ok(auth) = auth.to_str() else {
            return Err(AuthError::Malformed);
        };
        let Some(token) = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
        else {
            return Err(AuthError::Malformed);
        };
        let token = token.trim();
        match self.tokens.read().get(token) {
            Some(u) => {
                let mut u = u.clone();
                if !u.groups.iter().any(|g| g == AUTHENTICATED) {
                    u.groups.push(AUTHENTICATED.into());
                }
                Ok(Some(u))
            }
            None => Err(AuthError::Unknown),
        }
    }
}

/// Why presented credentials were rejected (always a 401 to the client;
/// the distinction is for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// The Authorization header is not a bearer token.
    Malformed,
    /// No authenticator knows the credential.
    Unknown,
}
