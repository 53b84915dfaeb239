//! The server's own PKI: a CA, a serving certificate, the admin token, the
//! ServiceAccount token signing key and the admin kubeconfig, all under the
//! data directory.
//!
//! The CA, token and signing key are generated once and reused on restart;
//! the serving certificate is re-issued at every start (cheap) so its names
//! always match the current bind address. The CA's parameters are a pure function, so
//! the CA can sign again (client certificates) from its key alone.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::Error;

/// Files of the PKI under a data directory.
#[derive(Clone, Debug)]
pub struct Paths {
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(data_dir: &Path) -> Self {
        Paths {
            dir: data_dir.join("pki"),
        }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn serving_cert(&self) -> PathBuf {
        self.dir.join("serving.crt")
    }
    pub fn serving_key(&self) -> PathBuf {
        self.dir.join("serving.key")
    }
    pub fn token(&self) -> PathBuf {
        self.dir.join("admin.token")
    }
    /// The ServiceAccount token signing key (PKCS#8 ECDSA P-256).
    pub fn service_account_key(&self) -> PathBuf {
        self.dir.join("service-account.key")
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "trellis-ca");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

fn write_private(path: &Path, contents: &str) -> Result<(), Error> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| Error::Io(format!("writing {}: {e}", path.display())))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| Error::Io(format!("writing {}: {e}", path.display())))
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::Io(format!("reading {}: {e}", path.display())))
}

/// The CA: its certificate (PEM) and an issuer that signs with it.
pub struct Ca {
    pub cert_pem: String,
    key: KeyPair,
}

impl Ca {
    /// Loads the CA, creating it on first use.
    pub fn load_or_create(paths: &Paths) -> Result<Ca, Error> {
        std::fs::create_dir_all(&paths.dir)
            .map_err(|e| Error::Io(format!("creating {}: {e}", paths.dir.display())))?;
        if paths.ca_cert().exists() && paths.ca_key().exists() {
            let key = KeyPair::from_pem(&read(&paths.ca_key())?)
                .map_err(|e| Error::Pki(format!("CA key: {e}")))?;
            return Ok(Ca {
                cert_pem: read(&paths.ca_cert())?,
                key,
            });
        }
        let key = KeyPair::generate().map_err(|e| Error::Pki(e.to_string()))?;
        let cert = ca_params()
            .self_signed(&key)
            .map_err(|e| Error::Pki(e.to_string()))?;
        write_private(&paths.ca_key(), &key.serialize_pem())?;
        std::fs::write(paths.ca_cert(), cert.pem()).map_err(|e| Error::Io(e.to_string()))?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key,
        })
    }

    fn issuer(&self) -> Issuer<'static, &KeyPair> {
        Issuer::new(ca_params(), &self.key)
    }

    /// Issues a serving certificate for `names` (DNS names or IPs);
    /// returns (cert PEM, key PEM).
    pub fn issue_serving(&self, names: &[String]) -> Result<(String, String), Error> {
        let key = KeyPair::generate().map_err(|e| Error::Pki(e.to_string()))?;
        let mut p =
            CertificateParams::new(names.to_vec()).map_err(|e| Error::Pki(e.to_string()))?;
        p.distinguished_name.push(DnType::CommonName, "trellis");
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = p
            .signed_by(&key, &self.issuer())
            .map_err(|e| Error::Pki(e.to_string()))?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Issues a client certificate (CN = user, O = groups); returns
    /// (cert PEM, key PEM). At most two groups: rcgen keeps one value per
    /// attribute type, so the second O is written under its OID as a
    /// custom type (the same attribute on the wire).
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<(String, String), Error> {
        if groups.len() > 2 {
            return Err(Error::Pki(
                "client certificates carry at most two groups".into(),
            ));
        }
        let key = KeyPair::generate().map_err(|e| Error::Pki(e.to_string()))?;
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, user);
        let o_types = [
            DnType::OrganizationName,
            DnType::CustomDnType(vec![2, 5, 4, 10]),
        ];
        for (g, ty) in groups.iter().zip(o_types) {
            p.distinguished_name.push(ty, *g);
        }
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = p
            .signed_by(&key, &self.issuer())
            .map_err(|e| Error::Pki(e.to_string()))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// What a signed client certificate may say it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientUsage {
    DigitalSignature,
    KeyEncipherment,
}

impl Ca {
    /// Signs a client certificate for `public_key` (DER
    /// SubjectPublicKeyInfo) with subject CN = `user`, O = `groups` (at
    /// most two, see [`Ca::issue_client`]), valid from five minutes ago
    /// (clock skew, as kube's signer backdates) for `lifetime`; returns
    /// the certificate's PEM.
    pub fn sign_client(
        &self,
        public_key: &[u8],
        user: &str,
        groups: &[String],
        usages: &[ClientUsage],
        lifetime: std::time::Duration,
    ) -> Result<String, Error> {
        if groups.len() > 2 {
            return Err(Error::Pki(
                "client certificates carry at most two groups".into(),
            ));
        }
        let key = rcgen::SubjectPublicKeyInfo::from_der(public_key)
            .map_err(|e| Error::Pki(format!("public key: {e}")))?;
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, user);
        let o_types = [
            DnType::OrganizationName,
            DnType::CustomDnType(vec![2, 5, 4, 10]),
        ];
        for (g, ty) in groups.iter().zip(o_types) {
            p.distinguished_name.push(ty, g.as_str());
        }
        p.is_ca = IsCa::ExplicitNoCa;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = usages
            .iter()
            .map(|u| match u {
                ClientUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
                ClientUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
            })
            .collect();
        let now = jiff::Timestamp::now().as_second();
        let at = |s: i64| {
            time::OffsetDateTime::from_unix_timestamp(s)
                .map_err(|e| Error::Pki(format!("validity: {e}")))
        };
        p.not_before = at(now - 300)?;
        p.not_after = at(now.saturating_add(lifetime.as_secs() as i64))?;
        // A random positive serial (the high bit clear).
        let mut serial = *uuid::Uuid::new_v4().as_bytes();
        serial[0] &= 0x7f;
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = p
            .signed_by(&key, &self.issuer())
            .map_err(|e| Error::Pki(e.to_string()))?;
        Ok(cert.pem())
    }
}

/// The admin bearer token, created on first use.
pub fn admin_token(paths: &Paths) -> Result<String, Error> {
    if let Ok(t) = std::fs::read_to_string(paths.token()) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    let bytes: [u8; 32] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&paths.token(), &token)?;
    Ok(token)
}

/// The ServiceAccount token signing key (PEM), created on first use.
/// Tokens survive restarts because the key does.
pub fn service_account_key(paths: &Paths) -> Result<String, Error> {
    if let Ok(pem) = std::fs::read_to_string(paths.service_account_key())
        && !pem.trim().is_empty()
    {
        return Ok(pem);
    }
    std::fs::create_dir_all(&paths.dir)
        .map_err(|e| Error::Io(format!("creating {}: {e}", paths.dir.display())))?;
    // rcgen's default key is ECDSA P-256, what ES256 needs.
    let key = KeyPair::generate().map_err(|e| Error::Pki(e.to_string()))?;
    let pem = key.serialize_pem();
    write_private(&paths.service_account_key(), &pem)?;
    Ok(pem)
}

/// Names the serving certificate must carry for a bind address.
pub fn serving_names(bind: IpAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !bind.is_unspecified() && !names.contains(&bind.to_string()) {
        names.push(bind.to_string());
    }
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() && !names.iter().any(|n| n == h) && h.parse::<IpAddr>().is_err() {
            names.push(h.to_string());
        }
    }
    names
}

/// A kubeconfig for `server` with the CA and a bearer token. A plain
/// `http://` server gets no CA (there is no TLS to verify).
pub fn kubeconfig(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let ca = if server.starts_with("http://") {
        String::new()
    } else {
        format!(
            "\n    certificate-authority-data: {}",
            base64::engine::general_purpose::STANDARD.encode(ca_pem)
        )
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: trellis\n  cluster:\n    server: {server}{ca}\ncontexts:\n- name: trellis\n  context:\n    cluster: trellis\n    user: {user}\ncurrent-context: trellis\nusers:\n- name: {user}\n  user:\n    token: {token}\n"
    )
}

/// Writes a kubeconfig readable only by its owner.
pub fn write_kubeconfig(path: &Path, contents: &str) -> Result<(), Error> {
    write_private(path, contents)
}
