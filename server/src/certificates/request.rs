//! A CSR's `spec.request`: one PEM `CERTIFICATE REQUEST` block, parsed as
//! PKCS#10 and its self-signature verified (kube's `ParseCSR` and
//! `CheckSignature`), so nothing unsigned or unparsable is ever stored.
//! Parsing is bounded by the request body limit and x509-parser's own
//! recursion limit.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

/// What the signer reads of a request.
#[derive(Debug)]
pub struct Request {
    pub common_name: String,
    pub organizations: Vec<String>,
    /// The DER SubjectPublicKeyInfo the certificate will carry.
    pub public_key: Vec<u8>,
}

/// Parses and verifies a PEM CSR.
pub fn parse(pem: &[u8]) -> Result<Request, String> {
    const BAD_PEM: &str = "PEM block type must be CERTIFICATE REQUEST";
    // Go's pem.Decode takes the first block whatever its label (the
    // reader below would skip unknown ones): it must be the request.
    let first = memchr::memmem::find(pem, b"-----BEGIN ").ok_or(BAD_PEM)?;
    if !pem[first..].starts_with(b"-----BEGIN CERTIFICATE REQUEST-----") {
        return Err(BAD_PEM.into());
    }
    let mut reader = &pem[first..];
    let der = match rustls_pemfile::read_one(&mut reader) {
        Ok(Some(rustls_pemfile::Item::Csr(der))) => der,
        _ => return Err(BAD_PEM.into()),
    };
    let (rest, csr) = X509CertificationRequest::from_der(der.as_ref())
        .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    if !rest.is_empty() {
        return Err("x509: trailing data after the certificate request".into());
    }
    csr.verify_signature()
        .map_err(|_| "x509: certificate request signature verification failed".to_string())?;
    let info = &csr.certification_request_info;
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        a.as_str()
            .map(str::to_string)
            .map_err(|e| format!("x509: subject: {e}"))
    };
    let common_name = match info.subject.iter_common_name().next() {
        Some(cn) => text(cn)?,
        None => String::new(),
    };
    let organizations = info
        .subject
        .iter_organization()
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Request {
        common_name,
        organizations,
        public_key: info.subject_pki.raw.to_vec(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PEM CSR for `cn` in groups `orgs` (at most two), and its key.
    pub(crate) fn csr(cn: &str, orgs: &[&str]) -> (String, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let types = [
            rcgen::DnType::OrganizationName,
            rcgen::DnType::CustomDnType(vec![2, 5, 4, 10]),
        ];
        for (o, t) in orgs.iter().zip(types) {
            p.distinguished_name.push(t, *o);
        }
        let pem = p.serialize_request(&key).unwrap().pem().unwrap();
        (pem, key)
    }

    #[test]
    fn requests_parse_and_are_verified() {
        let (pem, _) = csr("alice", &["dev", "ops"]);
        let r = parse(pem.as_bytes()).unwrap();
        assert_eq!(r.common_name, "alice");
        assert_eq!(r.organizations, ["dev", "ops"]);
        assert!(!r.public_key.is_empty());

        assert_eq!(
            parse(b"not pem").unwrap_err(),
            "PEM block type must be CERTIFICATE REQUEST"
        );
        // Another block first: refused, as Go reads only the first.
        let other_first = format!("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n{pem}");
        assert_eq!(
            parse(other_first.as_bytes()).unwrap_err(),
            "PEM block type must be CERTIFICATE REQUEST"
        );
        let cert = rcgen::CertificateParams::default()
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap()
            .pem();
        assert_eq!(
            parse(cert.as_bytes()).unwrap_err(),
            "PEM block type must be CERTIFICATE REQUEST"
        );

        // A signature that does not match the content.
        use base64::Engine;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let n = der.len();
        der[n - 3] ^= 0xff;
        let tampered = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        assert!(
            parse(tampered.as_bytes())
                .unwrap_err()
                .contains("verification failed")
        );
    }
}
