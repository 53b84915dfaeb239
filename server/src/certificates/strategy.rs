//! The CertificateSigningRequest strategy (kube's
//! `pkg/registry/certificates/certificates/strategy.go` and
//! `pkg/apis/certificates/validation`) and its admission (kube's
//! `CertificateSubjectRestriction`, `CertificateApproval` and
//! `CertificateSigning` plugins).
//!
//! The spec is written once: later writes keep the stored spec. Status is
//! split by subresource: the main resource never changes it, `/approval`
//! changes conditions only (adding or changing Approved/Denied needs
//! `approve` on the signer), `/status` may set the certificate once
//! (needs `sign` on the signer) but not the approval conditions; no write
//! removes an Approved, Denied or Failed condition.

use std::collections::HashSet;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde_json::{Value, json};
use trellis_apis::rbac::Attributes;
use trellis_apis::{FieldError, GroupResource, Status};

use super::{GROUP, KUBE_APISERVER_CLIENT, RESOURCE};
use crate::error::ApiResult;
use crate::meta::str_at;
use crate::registry::{Admission, AdmitCtx, Decoded, NameRule, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, AGE, Column, NAME};

/// kube's `allValidUsages`.
const USAGES: [&str; 23] = [
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

/// Condition types whose status may only be "True".
const TRUE_ONLY: [&str; 3] = ["Approved", "Denied", "Failed"];

pub struct CsrStrategy;

fn conditions(obj: &Value) -> &[Value] {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn of_type<'a>(obj: &'a Value, t: &str) -> Vec<&'a Value> {
    conditions(obj)
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some(t))
        .collect()
}

/// The PEM of `spec.request` (base64 in JSON).
pub fn request_pem(obj: &Value) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(str_at(obj, "/spec/request"))
        .ok()
}

/// Whether a condition of type `t` with status True is present.
pub fn has_condition(obj: &Value, t: &str) -> bool {
    of_type(obj, t)
        .iter()
        .any(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// kube's `ValidateSignerName`, in its words.
fn check_signer_name(name: &str, errs: &mut Vec<FieldError>) {
    const FIELD: &str = "spec.signerName";
    if name.is_empty() {
        errs.push(FieldError::required(FIELD, ""));
        return;
    }
    let Some((domain, path)) = name.split_once('/') else {
        errs.push(FieldError::invalid(
            FIELD,
            name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return;
    };
    if path.is_empty() || domain.is_empty() || !domain.contains('.') {
        errs.push(FieldError::invalid(
            FIELD,
            name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return;
    }
    for e in trellis_apis::validation::is_dns1123_subdomain(domain) {
        errs.push(FieldError::invalid(FIELD, name, e));
    }
}

/// `status.certificate`: PEM CERTIFICATE blocks only (kube's
/// `validateCertificate`).
fn check_certificate(obj: &Value, errs: &mut Vec<FieldError>) {
    use base64::Engine;
    let text = str_at(obj, "/status/certificate");
    if text.is_empty() {
        return;
    }
    let detail = match base64::engine::general_purpose::STANDARD.decode(text) {
        Err(_) => Some("must be base64".to_string()),
        Ok(pem) => {
            let mut reader = pem.as_slice();
            let mut blocks = 0;
            let mut bad = None;
            loop {
                match rustls_pemfile::read_one(&mut reader) {
                    Ok(Some(rustls_pemfile::Item::X509Certificate(der))) => {
                        if x509_parser::parse_x509_certificate(der.as_ref()).is_err() {
                            bad = Some("x509: malformed certificate".to_string());
                            break;
                        }
                        blocks += 1;
                    }
                    Ok(Some(_)) => {
                        bad = Some("only CERTIFICATE PEM blocks are allowed".to_string());
                        break;
                    }
                    Ok(None) => break,
                    Err(_) => {
                        bad = Some("must contain at least one CERTIFICATE PEM block".into());
                        break;
                    }
                }
            }
            bad.or_else(|| {
                (blocks == 0).then(|| "must contain at least one CERTIFICATE PEM block".into())
            })
        }
    };
    if let Some(d) = detail {
        errs.push(FieldError::invalid(
            "status.certificate",
            "<certificate data>",
            d,
        ));
    }
}

/// kube's `validateConditions`.
fn check_conditions(obj: &Value, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    let (mut approved, mut denied) = (false, false);
    for (i, c) in conditions(obj).iter().enumerate() {
        let path = format!("status.conditions[{i}]");
        let t = str_at(c, "/type");
        let status = str_at(c, "/status");
        if t.is_empty() {
            errs.push(FieldError::required(format!("{path}.type"), ""));
        }
        let allowed: &[&str] = if TRUE_ONLY.contains(&t) {
            &["True"]
        } else {
            &["False", "True", "Unknown"]
        };
        if status.is_empty() {
            errs.push(FieldError::required(format!("{path}.status"), ""));
        } else if !allowed.contains(&status) {
            errs.push(FieldError::not_supported(
                format!("{path}.status"),
                status,
                allowed,
            ));
        }
        match t {
            "Approved" => approved = true,
            "Denied" => denied = true,
            _ => {}
        }
        if approved && denied && matches!(t, "Approved" | "Denied") {
            errs.push(FieldError::invalid(
                "status.conditions",
                t,
                "Approved and Denied conditions are mutually exclusive",
            ));
        }
        if !seen.insert(t.to_string()) {
            errs.push(FieldError::duplicate(format!("{path}.type"), t));
        }
    }
}

impl Strategy for CsrStrategy {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        crate::builtin::typed::decode::<CertificateSigningRequest>(
            body,
            "CertificateSigningRequest",
            "certificates.k8s.io/v1",
        )
    }

    /// kube does not care what requests are called (any path segment).
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // The spec is the requester's, written once.
        match old.get("spec") {
            Some(s) => new["spec"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("spec");
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        match request_pem(obj) {
            Some(pem) => {
                if let Err(e) = super::request::parse(&pem) {
                    errs.push(FieldError::invalid("spec.request", "<request data>", e));
                }
            }
            None => errs.push(FieldError::invalid(
                "spec.request",
                "<request data>",
                "must be base64",
            )),
        }
        let usages: Vec<&str> = obj
            .pointer("/spec/usages")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if usages.is_empty() {
            errs.push(FieldError::required("spec.usages", ""));
        }
        let mut seen = HashSet::new();
        for (i, u) in usages.iter().enumerate() {
            if !USAGES.contains(u) {
                errs.push(FieldError::not_supported(
                    format!("spec.usages[{i}]"),
                    *u,
                    &USAGES,
                ));
            }
            if !seen.insert(*u) {
                errs.push(FieldError::duplicate(format!("spec.usages[{i}]"), *u));
            }
        }
        let signer = str_at(obj, "/spec/signerName");
        if signer == "kubernetes.io/legacy-unknown" {
            errs.push(FieldError::invalid(
                "spec.signerName",
                signer,
                "the legacy signerName is not allowed via this API version",
            ));
        } else {
            check_signer_name(signer, &mut errs);
        }
        if let Some(s) = obj
            .pointer("/spec/expirationSeconds")
            .and_then(Value::as_i64)
            && s < 600
        {
            errs.push(FieldError::invalid(
                "spec.expirationSeconds",
                s,
                "may not specify a duration less than 600 seconds (10 minutes)",
            ));
        }
        check_conditions(obj, &mut errs);
        check_certificate(obj, &mut errs);
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        for t in TRUE_ONLY {
            if of_type(new, t).len() < of_type(old, t).len() {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    format!("updates may not remove a condition of type {t:?}"),
                ));
            }
        }
        errs
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            AGE,
            Column::new("SignerName", "string", "The signer of the request"),
            Column::new("Requestor", "string", "Who made the request"),
            Column::new(
                "RequestedDuration",
                "string",
                "The certificate lifetime asked for",
            ),
            Column::new("Condition", "string", "The request's state"),
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let duration = obj
            .pointer("/spec/expirationSeconds")
            .and_then(Value::as_i64)
            .map_or("<none>".to_string(), table::human_duration);
        let mut state: Vec<&str> = conditions(obj)
            .iter()
            .filter_map(|c| c.get("type").and_then(Value::as_str))
            .collect();
        if str_at(obj, "/status/certificate").is_empty() {
            if state.is_empty() {
                state.push("Pending");
            }
        } else {
            state.push("Issued");
        }
        vec![
            table::name_cell(obj),
            table::age_cell(obj, now),
            json!(str_at(obj, "/spec/signerName")),
            json!(str_at(obj, "/spec/username")),
            json!(duration),
            json!(state.join(",")),
        ]
    }
}

/// kube's three certificate admission plugins, and the requester's
/// identity recorded at create.
pub struct CsrAdmission;

fn forbidden(name: &str, why: String) -> crate::error::ApiError {
    Status::forbidden(&GroupResource::new(GROUP, RESOURCE), name, &why).into()
}

/// Whether the caller may `verb` (`approve`, `sign`) requests of
/// `signer`: on `signers/<signer>`, or `signers/<domain>/*` (kube's
/// `IsAuthorizedForSignerName`).
async fn may(ctx: &AdmitCtx<'_>, verb: &str, signer: &str) -> ApiResult<bool> {
    let Some(user) = ctx.user else {
        return Ok(true);
    };
    let mut names = vec![signer.to_string()];
    if let Some((domain, _)) = signer.split_once('/') {
        names.push(format!("{domain}/*"));
    }
    for name in names {
        let attrs = Attributes::resource(user.clone(), verb, "", GROUP, "*", "signers", "", &name);
        if ctx.authz.authorize(ctx.cluster, &attrs).await?.is_allowed() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[async_trait::async_trait]
impl Admission for CsrAdmission {
    async fn admit_create(&self, ctx: &AdmitCtx<'_>, obj: &mut Value) -> ApiResult<()> {
        let name = crate::meta::name(obj).to_string();
        if let Some(user) = ctx.user {
            // The requester is whoever asks, whatever the body says.
            let spec = &mut obj["spec"];
            spec["username"] = json!(user.name);
            spec["uid"] = json!(user.uid);
            spec["groups"] = json!(user.groups);
            if user.extra.is_empty() {
                if let Some(s) = spec.as_object_mut() {
                    s.remove("extra");
                }
            } else {
                spec["extra"] = json!(user.extra);
            }
        }
        if str_at(obj, "/spec/signerName") == KUBE_APISERVER_CLIENT
            && let Some(r) = request_pem(obj).and_then(|p| super::request::parse(&p).ok())
            && r.organizations
                .iter()
                .any(|o| o == trellis_apis::rbac::SYSTEM_MASTERS)
        {
            return Err(forbidden(
                &name,
                format!(
                    "use of {KUBE_APISERVER_CLIENT} signer with {} group is not allowed",
                    trellis_apis::rbac::SYSTEM_MASTERS
                ),
            ));
        }
        Ok(())
    }

    async fn admit_update(
        &self,
        ctx: &AdmitCtx<'_>,
        new: &mut Value,
        old: &Value,
    ) -> ApiResult<()> {
        populate_timestamps(new, old);
        let name = crate::meta::name(new).to_string();
        let signer = str_at(old, "/spec/signerName").to_string();
        let sub = ctx.subresource.unwrap_or("");
        // kube's CertificateApproval: every write of /approval needs
        // `approve`; CertificateSigning: a /status write changing the
        // certificate or the conditions needs `sign`.
        if sub == "approval" && !may(ctx, "approve", &signer).await? {
            return Err(forbidden(
                &name,
                format!("user not permitted to approve requests with signerName {signer:?}"),
            ));
        }
        let (cert_new, cert_old) = (
            str_at(new, "/status/certificate"),
            str_at(old, "/status/certificate"),
        );
        if sub == "status"
            && (cert_new != cert_old || conditions(new) != conditions(old))
            && !may(ctx, "sign", &signer).await?
        {
            return Err(forbidden(
                &name,
                format!("user not permitted to sign requests with signerName {signer:?}"),
            ));
        }
        let mut errs = Vec::new();
        if sub != "approval" {
            for t in ["Approved", "Denied"] {
                let (n, o) = (of_type(new, t), of_type(old, t));
                if n.len() > o.len() {
                    errs.push(FieldError::forbidden(
                        "status.conditions",
                        format!("updates may not add a condition of type {t:?}"),
                    ));
                } else if n.len() == o.len() && n != o {
                    errs.push(FieldError::forbidden(
                        "status.conditions",
                        format!("updates may not modify a condition of type {t:?}"),
                    ));
                }
            }
        }
        if cert_new != cert_old {
            if sub != "status" {
                errs.push(FieldError::forbidden(
                    "status.certificate",
                    "updates may not set certificate content",
                ));
            } else if !cert_old.is_empty() {
                errs.push(FieldError::forbidden(
                    "status.certificate",
                    "updates may not modify existing certificate content",
                ));
            }
        }
        if errs.is_empty() {
            return Ok(());
        }
        let gk = trellis_apis::GroupKind {
            group: GROUP.into(),
            kind: "CertificateSigningRequest".into(),
        };
        Err(Status::invalid(&gk, &name, &errs).into())
    }
}

/// kube's `populateConditionTimestamps`: a condition without times gets
/// the old one's when unchanged in status, else now.
fn populate_timestamps(new: &mut Value, old: &Value) {
    let now = crate::meta::now_rfc3339();
    let old_conditions = conditions(old).to_vec();
    let Some(cs) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for c in cs.iter_mut().filter(|c| c.is_object()) {
        let before = old_conditions
            .iter()
            .find(|o| o.get("type") == c.get("type"));
        for f in ["lastUpdateTime", "lastTransitionTime"] {
            if c.get(f).is_none_or(Value::is_null) {
                let keep = before
                    .filter(|o| o.get("status") == c.get("status"))
                    .and_then(|o| o.get(f))
                    .filter(|v| !v.is_null());
                c[f] = keep.cloned().unwrap_or_else(|| json!(now));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(usages: Value, signer: &str) -> Value {
        use base64::Engine;
        let (pem, _) = super::super::request::tests::csr("alice", &["dev"]);
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": "alice"},
            "spec": {"request": base64::engine::general_purpose::STANDARD.encode(pem),
                "signerName": signer, "usages": usages}})
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn kubes_rules_for_requests() {
        let s = CsrStrategy;
        assert!(
            s.validate(&csr(json!(["client auth"]), KUBE_APISERVER_CLIENT))
                .is_empty()
        );
        let errs = messages(&s.validate(&csr(json!([]), "nodomain")));
        assert!(
            errs.contains(&"spec.usages: Required value".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.starts_with("spec.signerName: Invalid value: \"nodomain\": must be a fully qualified domain and path")),
            "{errs:?}"
        );
        let errs = messages(&s.validate(&csr(
            json!(["client auth", "client auth", "flying"]),
            "example.com/x",
        )));
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.usages[1]: Duplicate value")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.usages[2]: Unsupported value: \"flying\"")),
            "{errs:?}"
        );
        let mut bad = csr(json!(["client auth"]), "example.com/x");
        bad["spec"]["request"] = json!("bm90IGEgcmVxdWVzdA==");
        bad["spec"]["expirationSeconds"] = json!(60);
        bad["status"] = json!({"conditions": [
            {"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"},
            {"type": "Failed", "status": "False"}]});
        let errs = messages(&s.validate(&bad));
        for want in [
            "spec.request: Invalid value: \"<request data>\": PEM block type must be CERTIFICATE REQUEST",
            "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds (10 minutes)",
            "status.conditions: Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive",
            "status.conditions[2].status: Unsupported value: \"False\": supported values: \"True\"",
        ] {
            assert!(errs.contains(&want.to_string()), "{want} not in {errs:?}");
        }
        // Conditions are never removed; the spec is kept.
        let mut old = csr(json!(["client auth"]), "example.com/x");
        old["status"] = json!({"conditions": [{"type": "Failed", "status": "True"}]});
        let mut new = csr(json!(["server auth"]), "example.com/y");
        s.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"], old["spec"]);
        let errs = messages(&s.validate_update(&new, &old));
        assert!(
            errs.contains(&"status.conditions: Forbidden: updates may not remove a condition of type \"Failed\"".to_string()),
            "{errs:?}"
        );
    }
}
