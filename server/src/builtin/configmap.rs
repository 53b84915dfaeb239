//! ConfigMaps and Secrets: keyed data bags with Kubernetes' key rules, the
//! 1 MiB size limit and `immutable`.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::{Map, Value, json};
use trellis_apis::FieldError;

use crate::error::ApiResult;
use crate::registry::{Decoded, Strategy};
use crate::request::params::FieldValidation;
use crate::table::{self, AGE, Column, NAME};

/// Kubernetes' `MaxSecretSize`, which also bounds ConfigMaps.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// `validation.IsConfigMapKey`.
pub fn config_map_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        errs.push(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
                .to_string(),
        );
    }
    if key == "." {
        errs.push("must not be '.'".into());
    } else if key == ".." {
        errs.push("must not be '..'".into());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".into());
    }
    errs
}

fn keys(obj: &Value, field: &str) -> Map<String, Value> {
    obj.get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Key checks over `data`/`binaryData`-style bags; `sizes` says how to
/// measure a value (strings for ConfigMap data, decoded bytes otherwise).
fn validate_bags(obj: &Value, bags: &[&str], decoded_size: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (i, bag) in bags.iter().enumerate() {
        let m = keys(obj, bag);
        for (k, v) in &m {
            for msg in config_map_key_errors(k) {
                errs.push(FieldError::invalid(format!("{bag}[{k}]"), k.clone(), msg));
            }
            for (j, other) in bags.iter().enumerate() {
                if i != j && keys(obj, other).contains_key(k) {
                    errs.push(FieldError::invalid(
                        format!("{bag}[{k}]"),
                        k.clone(),
                        format!("duplicate of key present in {other}"),
                    ));
                }
            }
            let s = v.as_str().unwrap_or("");
            total += if decoded_size && (*bag == "binaryData" || *bag == "data") {
                s.len() / 4 * 3
            } else {
                s.len()
            };
        }
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long("", MAX_DATA_SIZE));
    }
    errs
}

fn validate_immutable(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
        for f in fields {
            if new.get(*f) != old.get(*f) {
                errs.push(FieldError::forbidden(
                    *f,
                    "field is immutable when `immutable` is set",
                ));
            }
        }
    }
    errs
}

/// Go decodes `[]byte` fields from JSON with `base64.StdEncoding`, which
/// skips `\r` and `\n`; so kube takes base64 wrapped at 64 or 76 columns
/// (`base64` without `-w0`, the docs' own TLS Secret example). The typed
/// decoder is strict, so line breaks go before it.
fn drop_base64_line_breaks(body: &mut Value, bag: &str) {
    let Some(Value::Object(m)) = body.get_mut(bag) else {
        return;
    };
    for v in m.values_mut() {
        if let Value::String(s) = v
            && s.contains(['\r', '\n'])
        {
            s.retain(|c| c != '\r' && c != '\n');
        }
    }
}

pub struct ConfigMapStrategy;

impl Strategy for ConfigMapStrategy {
    fn decode(&self, mut body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        drop_base64_line_breaks(&mut body, "binaryData");
        super::typed::decode::<ConfigMap>(body, "ConfigMap", "v1")
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_bags(obj, &["data", "binaryData"], true)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        errs.extend(validate_immutable(new, old, &["data", "binaryData"]));
        errs
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new("Data", "integer", "Data contains the configuration data."),
            AGE,
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let n = keys(obj, "data").len() + keys(obj, "binaryData").len();
        vec![table::name_cell(obj), json!(n), table::age_cell(obj, now)]
    }
}

pub struct SecretStrategy;

const SECRET_TYPES_REQUIRED_KEYS: &[(&str, &[&str])] = &[
    ("kubernetes.io/dockercfg", &[".dockercfg"]),
    ("kubernetes.io/dockerconfigjson", &[".dockerconfigjson"]),
    ("kubernetes.io/ssh-auth", &["ssh-privatekey"]),
    ("kubernetes.io/tls", &["tls.crt", "tls.key"]),
];

impl Strategy for SecretStrategy {
    fn decode(&self, mut body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        drop_base64_line_breaks(&mut body, "data");
        super::typed::decode::<Secret>(body, "Secret", "v1")
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        merge_string_data(obj);
        if obj
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            obj["type"] = json!("Opaque");
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        merge_string_data(new);
        if new
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            new["type"] = old.get("type").cloned().unwrap_or(json!("Opaque"));
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_bags(obj, &["data"], true);
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("Opaque");
        let data = keys(obj, "data");
        if ty == "kubernetes.io/service-account-token"
            && obj
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
        {
            errs.push(FieldError::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
                "",
            ));
        }
        if ty == "kubernetes.io/basic-auth"
            && !data.contains_key("username")
            && !data.contains_key("password")
        {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        for (t, required) in SECRET_TYPES_REQUIRED_KEYS {
            if ty == *t {
                for k in *required {
                    if !data.contains_key(*k) {
                        errs.push(FieldError::required(format!("data[{k}]"), ""));
                    }
                }
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        if new.get("type") != old.get("type") {
            errs.push(FieldError::invalid(
                "type",
                new.get("type").cloned().unwrap_or(Value::Null),
                "field is immutable",
            ));
        }
        errs.extend(validate_immutable(new, old, &["data"]));
        errs
    }

    fn selectable_fields(&self) -> &[&'static str] {
        &["type"]
    }

    fn table_columns(&self) -> Vec<Column> {
        vec![
            NAME,
            Column::new("Type", "string", "The type of the secret"),
            Column::new(
                "Data",
                "integer",
                "The number of entries in the secret's data",
            ),
            AGE,
        ]
    }

    fn table_cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        vec![
            table::name_cell(obj),
            obj.get("type").cloned().unwrap_or(json!("")),
            json!(keys(obj, "data").len()),
            table::age_cell(obj, now),
        ]
    }
}

/// `stringData` is write-only: its entries replace `data` entries
/// (base64-encoded), then it is dropped, as the Secret strategy does.
fn merge_string_data(obj: &mut Value) {
    use base64::Engine;
    let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = json!({});
    }
    let data = obj["data"].as_object_mut().expect("data is an object");
    for (k, v) in sd {
        let s = v.as_str().unwrap_or("");
        data.insert(
            k,
            Value::String(base64::engine::general_purpose::STANDARD.encode(s)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_map_rules() {
        let s = ConfigMapStrategy;
        let errs =
            s.validate(&json!({"data": {"bad key": "x", "ok": "1"}, "binaryData": {"ok": "MQ=="}}));
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            msgs.iter().any(|m| m.starts_with(
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist"
            )),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m
                    == "data[ok]: Invalid value: \"ok\": duplicate of key present in binaryData"),
            "{msgs:?}"
        );
        let old = json!({"immutable": true, "data": {"a": "1"}});
        let new = json!({"immutable": true, "data": {"a": "2"}});
        assert_eq!(
            s.validate_update(&new, &old)[0].to_string(),
            "data: Forbidden: field is immutable when `immutable` is set"
        );
    }

    #[test]
    fn base64_with_line_breaks_decodes_as_in_go() {
        let wrapped = "aGVsbG8g\nd29ybGQ=\r\n";
        let d = SecretStrategy
            .decode(
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": wrapped}}),
                FieldValidation::Strict,
            )
            .unwrap();
        assert_eq!(d.object["data"]["a"], "aGVsbG8gd29ybGQ=");
        let d = ConfigMapStrategy
            .decode(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "binaryData": {"b": wrapped}}),
                FieldValidation::Strict,
            )
            .unwrap();
        assert_eq!(d.object["binaryData"]["b"], "aGVsbG8gd29ybGQ=");
        // Anything else that is not base64 is still refused.
        let e = SecretStrategy
            .decode(
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "aGVs bG8="}}),
                FieldValidation::Strict,
            )
            .unwrap_err();
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn secret_string_data_and_type() {
        let s = SecretStrategy;
        let mut obj = json!({"stringData": {"u": "admin"}});
        s.prepare_for_create(&mut obj);
        assert_eq!(obj, json!({"data": {"u": "YWRtaW4="}, "type": "Opaque"}));
        let tls = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
        assert_eq!(
            s.validate(&tls)[0].to_string(),
            "data[tls.key]: Required value"
        );
        let errs = s.validate_update(&json!({"type": "x"}), &json!({"type": "Opaque"}));
        assert_eq!(
            errs[0].to_string(),
            "type: Invalid value: \"x\": field is immutable"
        );
    }
}
