//! The JWT crypto backend, on ring.
//!
//! `jsonwebtoken` parses tokens and validates claims but, since 10.x, leaves
//! the signature maths to a process-wide `CryptoProvider`. Its bundled
//! providers are aws-lc (a C build) or RustCrypto (a second crypto stack);
//! rustls here already runs on ring, so this module is a small ring provider
//! and the one place that installs it ([`install`], idempotent, called before
//! any token is signed or verified).
//!
//! Invariants:
//! * only asymmetric algorithms exist here: an HMAC (`HS*`) token is refused
//!   by construction, so a public key can never be used as an HMAC secret
//!   (the classic JWT algorithm-confusion attack);
//! * a key is only used with an algorithm of its own family
//!   (`jsonwebtoken` checks the family, this module checks the curve);
//! * nothing here panics on hostile input — unsupported keys and
//!   algorithms are errors.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature as rs;

/// Installs the ring provider as `jsonwebtoken`'s process default. Safe to
/// call any number of times.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider was installed first; ours is the
        // only one linked in, so that cannot happen.
        let _ = PROVIDER.install_default();
    });
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(ErrorKind::UnsupportedAlgorithm.into()),
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::UnsupportedAlgorithm.into()),
        ec_pub_components_from_private_key: ec_components_from_private_key,
        ed_pub_components_from_private_key: |_, _| Err(ErrorKind::UnsupportedAlgorithm.into()),
        compute_digest,
    },
};

fn ec_signing(alg: Algorithm) -> Option<&'static rs::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&rs::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&rs::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

fn ec_components_from_private_key(
    pkcs8: &[u8],
    alg: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>), Error> {
    let (signing, curve, len) = match alg {
        Algorithm::ES256 => (
            &rs::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &rs::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let pair = rs::EcdsaKeyPair::from_pkcs8(signing, pkcs8, &SystemRandom::new())
        .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
    let point = rs::KeyPair::public_key(&pair).as_ref();
    if point.len() != 1 + 2 * len || point[0] != 4 {
        return Err(ErrorKind::InvalidEcdsaKey.into());
    }
    let (x, y) = point[1..].split_at(len);
    Ok((curve, x.to_vec(), y.to_vec()))
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>, Error> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    };
    Ok(ring::digest::digest(alg, data).as_ref().to_vec())
}

/// Signs with an ECDSA key (the only kind Trellis signs with).
struct EcSigner {
    alg: Algorithm,
    pair: rs::EcdsaKeyPair,
}

impl Signer<Vec<u8>> for EcSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), msg)
            .map_err(|_| signature::Error::new())?;
        Ok(sig.as_ref().to_vec())
    }
}

impl JwtSigner for EcSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let signing = ec_signing(*alg).ok_or_else(|| Error::from(ErrorKind::UnsupportedAlgorithm))?;
    if key.family() != AlgorithmFamily::Ec {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let pair = rs::EcdsaKeyPair::from_pkcs8(signing, key.as_bytes(), &SystemRandom::new())
        .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
    Ok(Box::new(EcSigner { alg: *alg, pair }))
}

/// Verifies with a public key: ECDSA (uncompressed point), RSA (PKCS#1 DER
/// or modulus/exponent) or Ed25519.
struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

fn verification(alg: Algorithm) -> Option<&'static dyn rs::VerificationAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &rs::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &rs::ECDSA_P384_SHA384_FIXED,
        Algorithm::RS256 => &rs::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &rs::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &rs::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &rs::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &rs::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &rs::RSA_PSS_2048_8192_SHA512,
        Algorithm::EdDSA => &rs::ED25519,
        // HMAC and anything newer than this list.
        _ => return None,
    })
}

fn rsa_params(alg: Algorithm) -> Option<&'static rs::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &rs::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &rs::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &rs::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &rs::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &rs::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &rs::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let result = match self.key.kind() {
            DecodingKeyKind::SecretOrDer(bytes) => {
                let alg = verification(self.alg).ok_or_else(signature::Error::new)?;
                rs::UnparsedPublicKey::new(alg, bytes).verify(msg, sig)
            }
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                let params = rsa_params(self.alg).ok_or_else(signature::Error::new)?;
                rs::RsaPublicKeyComponents { n, e }.verify(params, msg, sig)
            }
        };
        result.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if verification(*alg).is_none() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if key.family() != alg.family() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    // An EC key's point length names its curve; P-384 points must not be
    // handed to a P-256 verifier and vice versa.
    if let (AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) = (key.family(), key.kind()) {
        let want = match alg {
            Algorithm::ES256 => 65,
            _ => 97,
        };
        if point.len() != want {
            return Err(ErrorKind::InvalidEcdsaKey.into());
        }
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

/// The algorithms Trellis accepts from an external issuer (OIDC). HMAC is
/// absent on purpose.
pub const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Whether `token` is shaped like a compact JWS (three base64url parts);
/// anything else cannot be a JWT and skips the JWT authenticators.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = 0;
    for part in token.split('.') {
        parts += 1;
        if part.is_empty()
            || !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    parts == 3
}

/// The unverified `iss` of a JWT, used only to pick the verifier (the chosen
/// verifier checks it again, signed). `None` if the payload is unreadable.
pub fn peek_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Peek {
        iss: Option<String>,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Peek>(token)
        .ok()
        .and_then(|p| p.iss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation};
    use serde_json::json;

    fn ec_key() -> (EncodingKey, DecodingKey) {
        let pkcs8 = rs::EcdsaKeyPair::generate_pkcs8(
            &rs::ECDSA_P256_SHA256_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        let pair = rs::EcdsaKeyPair::from_pkcs8(
            &rs::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &SystemRandom::new(),
        )
        .unwrap();
        (
            EncodingKey::from_ec_der(pkcs8.as_ref()),
            DecodingKey::from_ec_der(rs::KeyPair::public_key(&pair).as_ref()),
        )
    }

    #[test]
    fn es256_round_trip_and_hmac_is_refused() {
        install();
        let (enc, dec) = ec_key();
        let claims = json!({"sub": "x", "exp": jsonwebtoken::get_current_timestamp() + 60});
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &enc).unwrap();
        assert!(looks_like_jwt(&token));
        let ok = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &dec,
            &Validation::new(Algorithm::ES256),
        )
        .unwrap();
        assert_eq!(ok.claims["sub"], "x");

        // Another key's signature does not verify.
        let (_, other) = ec_key();
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &token,
                &other,
                &Validation::new(Algorithm::ES256)
            )
            .is_err()
        );

        // An HS256 token "signed" with the public key bytes is refused.
        let hs = jsonwebtoken::Validation::new(Algorithm::HS256);
        let forged = format!(
            "{}.{}.AAAA",
            base64_url(br#"{"alg":"HS256","typ":"JWT"}"#),
            base64_url(claims.to_string().as_bytes())
        );
        let secret = DecodingKey::from_secret(b"whatever");
        assert!(jsonwebtoken::decode::<serde_json::Value>(&forged, &secret, &hs).is_err());
    }

    fn base64_url(b: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    #[test]
    fn jwt_shape_and_issuer_peek() {
        assert!(!looks_like_jwt("abc"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a.b c.d"));
        let t = format!(
            "{}.{}.sig",
            base64_url(br#"{"alg":"ES256"}"#),
            base64_url(br#"{"iss":"https://x"}"#)
        );
        assert!(looks_like_jwt(&t));
        assert_eq!(peek_issuer(&t).as_deref(), Some("https://x"));
        let t = format!(
            "{}.{}.sig",
            base64_url(br#"{"alg":"ES256"}"#),
            base64_url(b"not json")
        );
        assert_eq!(peek_issuer(&t), None);
    }
}
