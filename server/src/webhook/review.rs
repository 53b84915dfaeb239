//! AdmissionReview v1: what a webhook is sent and what its answer must
//! be, with kube's checks of the answer (`VerifyAdmissionResponse`).

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

/// A webhook's verdict, checked.
#[derive(Debug, Default)]
pub struct Reply {
    pub allowed: bool,
    /// `response.status` (`code`, `message`, `reason`), for a denial.
    pub status: Option<Value>,
    /// A JSONPatch (mutating webhooks only).
    pub patch: Option<Vec<u8>>,
    pub warnings: Vec<String>,
    pub audit_annotations: BTreeMap<String, String>,
}

/// What one answer may add to a request's warnings and audit annotations
/// (each request also bounds their sum).
const MAX_REPLY_NOTE_BYTES: usize = 64 * 1024;
const MAX_NOTE_BYTES: usize = 4096;
const MAX_KEY_BYTES: usize = 253;

impl Reply {
    /// Keeps only what can be passed on: warnings and annotations cut to
    /// size, so no more than a small summary of an answer outlives it.
    pub fn bound(&mut self) {
        let mut budget = MAX_REPLY_NOTE_BYTES;
        let mut cut = |s: &mut String| {
            let mut end = s.len().min(MAX_NOTE_BYTES).min(budget);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            budget -= end;
            !s.is_empty()
        };
        self.warnings.retain_mut(|w| cut(w));
        let annotations = std::mem::take(&mut self.audit_annotations);
        for (k, mut v) in annotations {
            if k.is_empty() || k.len() > MAX_KEY_BYTES {
                continue;
            }
            if cut(&mut v) {
                self.audit_annotations.insert(k, v);
            }
        }
    }
}

/// The request body: `request` is the admission request as policies see
/// it (kind, resource, userInfo, options…), completed here.
pub fn body(uid: &str, mut request: Value, object: &Value, old_object: &Value) -> Vec<u8> {
    if let Some(r) = request.as_object_mut() {
        r.insert("uid".into(), json!(uid));
        r.insert("object".into(), object.clone());
        r.insert("oldObject".into(), old_object.clone());
    }
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    });
    serde_json::to_vec(&review).expect("JSON values serialise")
}

/// Parses and checks a webhook's answer to the review `uid`.
pub fn parse(body: &[u8], uid: &str, mutating: bool) -> Result<Reply, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("decoding the response: {e}"))?;
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != "admission.k8s.io/v1" || kind != "AdmissionReview" {
        return Err(format!(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {api_version}, Kind={kind}"
        ));
    }
    let r = v
        .get("response")
        .and_then(Value::as_object)
        .ok_or("webhook response was absent")?;
    let got = r.get("uid").and_then(Value::as_str).unwrap_or("");
    if got != uid {
        return Err(format!("expected response.uid={uid:?}, got {got:?}"));
    }
    let allowed = match r.get("allowed") {
        Some(Value::Bool(b)) => *b,
        None => false,
        Some(_) => return Err("response.allowed must be a boolean".into()),
    };
    let patch = r
        .get("patch")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty());
    let patch_type = r
        .get("patchType")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty());
    let patch = if mutating {
        match (patch, patch_type) {
            (Some(_), None) => {
                return Err("webhook returned response.patch but not response.patchType".into());
            }
            (None, Some(_)) => {
                return Err("webhook returned response.patchType but not response.patch".into());
            }
            (Some(p), Some("JSONPatch")) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(p)
                    .map_err(|e| format!("received undecodable patch in webhook response: {e}"))?,
            ),
            (Some(_), Some(t)) => {
                return Err(format!(
                    "webhook returned invalid response.patchType of {t:?}"
                ));
            }
            (None, None) => None,
        }
    } else {
        if patch.is_some() {
            return Err("validating webhook may not return response.patch".into());
        }
        if patch_type.is_some() {
            return Err("validating webhook may not return response.patchType".into());
        }
        None
    };
    let warnings = match r.get("warnings") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ws)) => ws
            .iter()
            .map(|w| w.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("response.warnings must be a list of strings")?,
        Some(_) => return Err("response.warnings must be a list of strings".into()),
    };
    let audit_annotations = match r.get("auditAnnotations") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect::<Option<BTreeMap<_, _>>>()
            .ok_or("response.auditAnnotations must map strings to strings")?,
        Some(_) => return Err("response.auditAnnotations must map strings to strings".into()),
    };
    Ok(Reply {
        allowed,
        status: r.get("status").filter(|s| s.is_object()).cloned(),
        patch,
        warnings,
        audit_annotations,
    })
}

/// kube's `ToStatusErr`: the Status a denial answers with.
pub fn denial(webhook: &str, status: Option<&Value>) -> trellis_apis::Status {
    let denied_by = format!("admission webhook {webhook:?} denied the request");
    let field = |k: &str| {
        status
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let code = status
        .and_then(|s| s.get("code"))
        .and_then(Value::as_i64)
        .filter(|c| (400..=599).contains(c))
        .unwrap_or(400) as u16;
    let message = field("message");
    let reason = field("reason");
    let message = if !message.is_empty() {
        format!("{denied_by}: {message}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    };
    let mut s = trellis_apis::Status::failure(code, &reason, &message);
    if let Some(details) = status.and_then(|s| s.get("details")).cloned()
        && let Ok(d) = serde_json::from_value(details)
    {
        s.details = d;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_as_kube_checks_them() {
        let ok = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u1", "allowed": true, "warnings": ["careful"],
                "auditAnnotations": {"k": "v"}}});
        let r = parse(ok.to_string().as_bytes(), "u1", false).unwrap();
        assert!(r.allowed);
        assert_eq!(r.warnings, vec!["careful"]);
        assert_eq!(r.audit_annotations["k"], "v");

        let cases = [
            (
                json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "response": {"uid": "u1"}}),
                "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
                "webhook response was absent",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": "other", "allowed": true}}),
                "expected response.uid=\"u1\", got \"other\"",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": "u1", "allowed": true, "patch": "W10=", "patchType": "JSONPatch"}}),
                "validating webhook may not return response.patch",
            ),
        ];
        for (body, want) in cases {
            let e = parse(body.to_string().as_bytes(), "u1", false).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        let e = parse(b"<html>", "u1", false).unwrap_err();
        assert!(e.starts_with("decoding the response"), "{e}");
        let no_type = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u1", "allowed": true, "patch": "W10="}});
        let e = parse(no_type.to_string().as_bytes(), "u1", true).unwrap_err();
        assert_eq!(
            e,
            "webhook returned response.patch but not response.patchType"
        );
        let bad = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u1", "allowed": true, "patch": "***", "patchType": "JSONPatch"}});
        let e = parse(bad.to_string().as_bytes(), "u1", true).unwrap_err();
        assert!(e.starts_with("received undecodable patch"), "{e}");
        let good = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u1", "allowed": true, "patch": "W10=", "patchType": "JSONPatch"}});
        assert_eq!(
            parse(good.to_string().as_bytes(), "u1", true)
                .unwrap()
                .patch
                .unwrap(),
            b"[]"
        );
    }

    #[test]
    fn denials_read_like_kubes() {
        let s = denial(
            "check.example.com",
            Some(&json!({"code": 403, "message": "no blue"})),
        );
        assert_eq!(s.code, 403);
        assert_eq!(
            s.message,
            "admission webhook \"check.example.com\" denied the request: no blue"
        );
        let s = denial("check.example.com", None);
        assert_eq!(s.code, 400);
        assert_eq!(
            s.message,
            "admission webhook \"check.example.com\" denied the request without explanation"
        );
        let s = denial(
            "w.example.com",
            Some(&json!({"code": 200, "reason": "Nope"})),
        );
        assert_eq!(s.code, 400);
        assert!(s.message.ends_with("denied the request: Nope"));
    }
}
