//! Client certificates: the subject names the user.
//!
//! Trust is decided during the TLS handshake, not here: rustls accepts a
//! client certificate only if it chains to the server's CA (and carries the
//! client-auth usage when it names usages), and `serve.rs` hands the
//! verified chain to the request. This module only reads the leaf's
//! subject, as upstream's `CommonNameUserConversion` does: CN is the user
//! name, every O is a group. A leaf without a CN authenticates no one (the
//! request falls through to bearer tokens), again as upstream.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::{AuthError, UserInfo};

/// The user a verified client certificate chain names, if any.
pub fn user_from_chain(
    chain: &[rustls::pki_types::CertificateDer<'_>],
) -> Result<Option<UserInfo>, AuthError> {
    let Some(leaf) = chain.first() else {
        return Ok(None);
    };
    user_from_der(leaf.as_ref())
}

/// The user named by a DER certificate's subject.
pub fn user_from_der(der: &[u8]) -> Result<Option<UserInfo>, AuthError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| AuthError::Invalid(format!("client certificate: {e}")))?;
    let subject = cert.subject();
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        a.as_str()
            .map(str::to_string)
            .map_err(|e| AuthError::Invalid(format!("client certificate subject: {e}")))
    };
    let name = match subject.iter_common_name().next() {
        Some(cn) => text(cn)?,
        None => return Ok(None),
    };
    if name.is_empty() {
        return Ok(None);
    }
    let groups = subject
        .iter_organization()
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(UserInfo {
        name,
        uid: String::new(),
        groups,
        extra: Default::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    fn cert(cn: Option<&str>, orgs: &[&str]) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            p.distinguished_name.push(DnType::CommonName, cn);
        }
        if let Some(o) = orgs.first() {
            p.distinguished_name.push(DnType::OrganizationName, *o);
        }
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn common_name_is_the_user_and_organizations_the_groups() {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::pki::Ca::load_or_create(&crate::pki::Paths::new(dir.path())).unwrap();
        let (pem, _) = ca.issue_client("alice", &["devs", "ops"]).unwrap();
        let der = rustls_pemfile::certs(&mut pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let u = user_from_chain(&[der]).unwrap().unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["devs", "ops"]);
        assert!(u.uid.is_empty() && u.extra.is_empty());
        let u = user_from_der(&cert(Some("bob"), &[])).unwrap().unwrap();
        assert!(u.groups.is_empty());
    }

    #[test]
    fn no_common_name_is_no_user_and_garbage_is_an_error() {
        assert!(user_from_der(&cert(None, &["devs"])).unwrap().is_none());
        assert!(user_from_der(b"not a certificate").is_err());
        assert!(user_from_chain(&[]).unwrap().is_none());
    }
}
