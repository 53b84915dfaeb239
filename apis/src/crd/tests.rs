//! End-to-end tests of the public API: a v1 CRD goes through defaulting,
//! the strategy's prepare step and validation, and the full messages
//! (`FieldError`'s `Display`) are compared with what kube-apiserver prints.

use serde_json::{Value, json};

use super::*;
use crate::field_error::FieldError;

fn good() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {
                            "replicas": {"type": "integer", "default": 1},
                            "color": {"type": "string", "enum": ["red", "blue"]},
                        }},
                        "status": {"type": "object", "properties": {
                            "replicas": {"type": "integer"},
                            "selector": {"type": "string"},
                        }},
                    },
                }},
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector",
                }},
                "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                ],
                "selectableFields": [{"jsonPath": ".spec.color"}],
            }],
        },
    })
}

fn messages(errs: Vec<FieldError>) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn prepared(mut crd: Value) -> Value {
    set_defaults(&mut crd);
    prepare_for_create(&mut crd);
    crd
}

fn create(crd: Value) -> Vec<String> {
    messages(validate_create(&prepared(crd)))
}

fn schema_of(crd: &mut Value) -> &mut Value {
    &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

const SCHEMA: &str = "spec.validation.openAPIV3Schema";

#[test]
fn good_crd_passes() {
    assert_eq!(create(good()), Vec::<String>::new());
}

#[test]
fn defaults_are_filled() {
    let mut crd = good();
    crd["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {
        "clientConfig": {"service": {"namespace": "ns", "name": "svc"}},
        "conversionReviewVersions": ["v1"]}});
    set_defaults(&mut crd);
    assert_eq!(crd["spec"]["names"]["singular"], "widget");
    assert_eq!(crd["spec"]["names"]["listKind"], "WidgetList");
    assert_eq!(
        crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"],
        443
    );
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));

    let mut plain = good();
    set_defaults(&mut plain);
    assert_eq!(plain["spec"]["conversion"], json!({"strategy": "None"}));
    prepare_for_create(&mut plain);
    assert_eq!(
        plain["status"],
        json!({"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": ["v1"]})
    );
    assert_eq!(plain["metadata"]["generation"], 1);
}

#[test]
fn name_must_match_plural_and_group() {
    let mut crd = good();
    crd["metadata"]["name"] = json!("gadgets.example.com");
    assert_eq!(
        create(crd),
        [
            "metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"
        ]
    );
}

#[test]
fn group_needs_a_dot() {
    let mut crd = good();
    crd["metadata"]["name"] = json!("widgets.example");
    crd["spec"]["group"] = json!("example");
    assert_eq!(
        create(crd),
        ["spec.group: Invalid value: \"example\": should be a domain with at least one dot"]
    );
}

const V1_HOISTED: &str = "apiextensions.CustomResourceDefinitionVersion{Name:\"v1\", Served:true, Storage:true, Deprecated:false, DeprecationWarning:(*string)(nil), Schema:(*apiextensions.CustomResourceValidation)(nil), Subresources:(*apiextensions.CustomResourceSubresources)(nil), AdditionalPrinterColumns:[]apiextensions.CustomResourceColumnDefinition(nil), SelectableFields:[]apiextensions.SelectableField(nil)}";

#[test]
fn exactly_one_storage_version() {
    let mut crd = good();
    let mut v2 = crd["spec"]["versions"][0].clone();
    v2["name"] = json!("v2");
    crd["spec"]["versions"].as_array_mut().unwrap().push(v2);
    let v2_hoisted = V1_HOISTED.replace("\"v1\"", "\"v2\"");
    assert_eq!(
        create(crd.clone()),
        [
            format!(
                "spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{{{V1_HOISTED}, {v2_hoisted}}}: must have exactly one version marked as storage version"
            ),
            "status.storedVersions: Invalid value: []string{\"v1\"}: must have the storage version v2".to_string(),
        ]
    );

    crd["spec"]["versions"][0]["storage"] = json!(false);
    crd["spec"]["versions"][1]["storage"] = json!(false);
    let v1_off = V1_HOISTED.replace("Storage:true", "Storage:false");
    let v2_off = v2_hoisted.replace("Storage:true", "Storage:false");
    assert_eq!(
        create(crd),
        [
            format!(
                "spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{{{v1_off}, {v2_off}}}: must have exactly one version marked as storage version"
            ),
            "status.storedVersions: Invalid value: []string(nil): must have at least one stored version".to_string(),
        ]
    );
}

#[test]
fn non_structural_schema_missing_type() {
    let mut crd = good();
    schema_of(&mut crd)["properties"]["spec"]["properties"]["replicas"] = json!({"minimum": 0});
    assert_eq!(
        create(crd),
        [format!(
            "{SCHEMA}.properties[spec].properties[replicas].type: Required value: must not be empty for specified object fields"
        )]
    );
}

#[test]
fn per_version_schemas_keep_version_paths() {
    let mut crd = good();
    let mut v2 = crd["spec"]["versions"][0].clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["replicas"] =
        json!({"minimum": 0});
    crd["spec"]["versions"].as_array_mut().unwrap().push(v2);
    assert_eq!(
        create(crd),
        [
            "spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[replicas].type: Required value: must not be empty for specified object fields"
        ]
    );
}

#[test]
fn root_metadata_may_only_restrict_names() {
    let mut crd = good();
    schema_of(&mut crd)["properties"]["metadata"] = json!({"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 20},
        "labels": {"type": "object"},
    }});
    assert_eq!(
        create(crd.clone()),
        [format!(
            "{SCHEMA}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
        )]
    );
    schema_of(&mut crd)["properties"]["metadata"] =
        json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}});
    assert_eq!(create(crd), Vec::<String>::new());
}

#[test]
fn defaults_forbidden_in_top_level_metadata() {
    let mut crd = good();
    schema_of(&mut crd)["properties"]["metadata"] =
        json!({"type": "object", "default": {"name": "x"}});
    assert_eq!(
        create(crd),
        [format!(
            "{SCHEMA}.properties[metadata].default: Forbidden: must not be set in top-level metadata"
        )]
    );
}

#[test]
fn list_map_keys_must_be_required_or_defaulted() {
    let mut crd = good();
    schema_of(&mut crd)["properties"]["spec"]["properties"]["ports"] = json!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name", "port"],
        "items": {"type": "object", "required": ["port"], "properties": {
            "name": {"type": "string"},
            "port": {"type": "integer"},
        }},
    });
    assert_eq!(
        create(crd.clone()),
        [format!(
            "{SCHEMA}.properties[spec].properties[ports].items.properties[name].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
        )]
    );
    schema_of(&mut crd)["properties"]["spec"]["properties"]["ports"]["x-kubernetes-list-map-keys"] =
        json!(["port", "missing"]);
    assert_eq!(
        create(crd),
        [format!(
            "{SCHEMA}.properties[spec].properties[ports].x-kubernetes-list-map-keys: Invalid value: []string{{\"port\", \"missing\"}}: entries must all be names of item properties"
        )]
    );
}

#[test]
fn forbidden_schema_features() {
    let mut crd = good();
    // Upstream would crash resolving selectable fields against a schema
    // NewStructural rejects; keep this case about the schema alone.
    crd["spec"]["versions"][0]["selectableFields"] = json!([]);
    let spec = &mut schema_of(&mut crd)["properties"]["spec"]["properties"];
    spec["a"] = json!({"type": "array", "uniqueItems": true, "items": {"type": "string"}});
    spec["b"] = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false});
    spec["c"] = json!({"$ref": "#/definitions/x"});
    spec["d"] = json!({"type": "object", "properties": {"x": {"type": "string"}},
        "additionalProperties": {"type": "string"}});
    assert_eq!(
        create(crd),
        [
            format!(
                "{SCHEMA}.properties[spec].properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            ),
            format!(
                "{SCHEMA}.properties[spec].properties[b].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
            ),
            format!(
                "{SCHEMA}.properties[spec].properties[c].$ref: Forbidden: $ref is not supported"
            ),
            format!(
                "{SCHEMA}.properties[spec].properties[d].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            ),
        ]
    );
}

#[test]
fn structural_errors_are_sorted_and_int_or_string_allowed() {
    let mut crd = good();
    let spec = &mut schema_of(&mut crd)["properties"]["spec"]["properties"];
    spec["port"] = json!({"x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]});
    spec["emb"] = json!({"x-kubernetes-embedded-resource": true});
    spec["alt"] = json!({"type": "object", "anyOf": [{"type": "object", "description": "d"}],
        "properties": {"x": {"type": "string"}}});
    spec["bad"] = json!({"type": "string", "pattern": "(a"});
    assert_eq!(
        create(crd),
        [
            format!(
                "{SCHEMA}.properties[spec].properties[alt].anyOf[0].description: Forbidden: must be empty to be structural"
            ),
            format!(
                "{SCHEMA}.properties[spec].properties[alt].anyOf[0].type: Forbidden: must be empty to be structural"
            ),
            format!(
                "{SCHEMA}.properties[spec].properties[bad].pattern: Invalid value: \"(a\": must be a valid regular expression, but isn't: error parsing regexp: missing closing ): `(a`"
            ),
            format!(
                "{SCHEMA}.properties[spec].properties[emb].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
            ),
            format!(
                "{SCHEMA}.properties[spec].properties[emb].type: Required value: must be object if x-kubernetes-embedded-resource is true"
            ),
        ]
    );
}

#[test]
fn completeness_of_root_junctors() {
    let mut crd = good();
    schema_of(&mut crd)["anyOf"] = json!([{"properties": {"foo": {"minimum": 1}}}]);
    crd["spec"]["versions"][0]["subresources"] = json!({});
    assert_eq!(
        create(crd),
        [format!(
            "{SCHEMA}.properties[foo]: Required value: because it is defined in {SCHEMA}.anyOf[0].properties[foo]"
        )]
    );
}

#[test]
fn status_subresource_restricts_root_fields() {
    let mut crd = good();
    schema_of(&mut crd)["anyOf"] = json!([{"required": ["spec"]}]);
    let errs = create(crd);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(&format!("{SCHEMA}: Invalid value: {{")),
        "{}",
        errs[0]
    );
    assert!(errs[0].ends_with(": only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled"));
}

#[test]
fn printer_columns() {
    let mut crd = good();
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = json!([
        {"name": "A", "type": "str", "jsonPath": ".spec.a"},
        {"name": "", "type": "string", "format": "uuid", "jsonPath": "spec.b"},
    ]);
    assert_eq!(
        create(crd),
        [
            "spec.additionalPrinterColumns[0].type: Invalid value: \"str\": must be one of boolean,date,integer,number,string",
            "spec.additionalPrinterColumns[1].name: Required value",
            "spec.additionalPrinterColumns[1].format: Invalid value: \"uuid\": must be one of byte,date,date-time,double,float,int32,int64,password",
            "spec.additionalPrinterColumns[1].JSONPath: Invalid value: \"spec.b\": must be a simple json path starting with .",
        ]
    );
}

#[test]
fn scale_paths() {
    let mut crd = good();
    crd["spec"]["versions"][0]["subresources"]["scale"] = json!({
        "specReplicasPath": ".status.replicas",
        "statusReplicasPath": "status.replicas",
        "labelSelectorPath": ".metadata.labels",
    });
    assert_eq!(
        create(crd),
        [
            "spec.subresources.scale.specReplicasPath: Invalid value: \".status.replicas\": should be a json path under .spec",
            "spec.subresources.scale.statusReplicasPath: Invalid value: \"status.replicas\": must be a simple json path starting with .",
            "spec.subresources.scale.labelSelectorPath: Invalid value: \".metadata.labels\": should be a json path under either .spec or .status",
        ]
    );
}

#[test]
fn selectable_fields() {
    let mut crd = good();
    crd["spec"]["versions"][0]["selectableFields"] = json!([
        {"jsonPath": ".spec.color"},
        {"jsonPath": ".spec.color"},
        {"jsonPath": ".spec"},
        {"jsonPath": ".spec.nope"},
        {"jsonPath": ""},
    ]);
    assert_eq!(
        create(crd),
        [
            "spec.selectableFields[1].jsonPath: Duplicate value: \".spec.color\"",
            "spec.selectableFields[2].jsonPath: Invalid value: \".spec\": must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
            "spec.selectableFields[3].jsonPath: Invalid value: \".spec.nope\": is an invalid path: does not refer to a valid field",
            "spec.selectableFields[4].jsonPath: Required value",
        ]
    );
}

#[test]
fn too_many_selectable_fields() {
    let mut crd = good();
    let mut props = serde_json::Map::new();
    let mut fields = Vec::new();
    for i in 0..9 {
        props.insert(format!("f{i}"), json!({"type": "string"}));
        fields.push(json!({"jsonPath": format!(".spec.f{i}")}));
    }
    schema_of(&mut crd)["properties"]["spec"]["properties"] = Value::Object(props);
    crd["spec"]["versions"][0]["subresources"] = json!({"status": {}});
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = json!([]);
    crd["spec"]["versions"][0]["selectableFields"] = Value::Array(fields);
    assert_eq!(
        create(crd),
        ["spec.selectableFields: Too many: 9: must have at most 8 items"]
    );
}

#[test]
fn webhook_conversion() {
    let mut crd = good();
    crd["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {}});
    assert_eq!(
        create(crd.clone()),
        [
            "spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
            "spec.conversion.conversionReviewVersions: Required value",
        ]
    );
    crd["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {
        "clientConfig": {"url": "http://example.com/convert"},
        "conversionReviewVersions": ["v2"]}});
    assert_eq!(
        create(crd.clone()),
        [
            "spec.conversion.webhookClientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
            "spec.conversion.conversionReviewVersions: Invalid value: []string{\"v2\"}: must include at least one of v1, v1beta1",
        ]
    );
    crd["spec"]["conversion"] =
        json!({"strategy": "None", "webhook": {"conversionReviewVersions": ["v1"]}});
    assert_eq!(
        create(crd.clone()),
        [
            "spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook"
        ]
    );
    crd["spec"]["conversion"] = json!({"strategy": "Other"});
    assert_eq!(
        create(crd),
        [
            "spec.conversion.strategy: Unsupported value: \"Other\": supported values: \"None\", \"Webhook\""
        ]
    );
}

#[test]
fn names_and_scope() {
    let mut crd = good();
    crd["metadata"]["name"] = json!("Widgets.example.com");
    crd["spec"]["names"] = json!({"plural": "Widgets", "kind": "Widget", "listKind": "Widget",
        "shortNames": ["w_d"], "categories": ["all"]});
    crd["spec"]["scope"] = json!("Global");
    let errs = create(crd);
    assert_eq!(
        errs,
        [
            "metadata.name: Invalid value: \"Widgets.example.com\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
            "spec.names.plural: Invalid value: \"Widgets\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            "spec.names.shortNames[0]: Invalid value: \"w_d\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            "spec.names.listKind: Invalid value: \"Widget\": kind and listKind may not be the same",
        ]
    );
}

#[test]
fn protected_groups_need_approval() {
    let mut crd = good();
    crd["metadata"]["name"] = json!("widgets.apps.k8s.io");
    crd["spec"]["group"] = json!("apps.k8s.io");
    assert_eq!(
        create(crd.clone()),
        [
            "metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111"
        ]
    );
    crd["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "yes"});
    assert_eq!(
        create(crd.clone()),
        [
            "metadata.annotations[api-approved.kubernetes.io]: Invalid value: \"yes\": protected groups must have approval annotation \"api-approved.kubernetes.io\" with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111"
        ]
    );
    crd["metadata"]["annotations"] =
        json!({"api-approved.kubernetes.io": "https://github.com/kubernetes/kubernetes/pull/1"});
    assert_eq!(create(crd.clone()), Vec::<String>::new());
    crd["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "unapproved, testing"});
    assert_eq!(create(crd), Vec::<String>::new());
}

#[test]
fn preserve_unknown_fields_true_is_rejected() {
    let mut crd = good();
    crd["spec"]["preserveUnknownFields"] = json!(true);
    assert_eq!(
        create(crd),
        [
            "spec.preserveUnknownFields: Invalid value: true: must be false in order to use defaults in the schema",
            "spec.preserveUnknownFields: Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ]
    );
}

#[test]
fn validation_rules_static_checks_and_hooks() {
    let mut crd = good();
    schema_of(&mut crd)["properties"]["spec"]["x-kubernetes-validations"] = json!([
        {"rule": " "},
        {"rule": "self.replicas > 0", "reason": "Bogus", "fieldPath": ".nope"},
        {"rule": "self.replicas >= 0"},
    ]);
    let p = format!("{SCHEMA}.properties[spec].x-kubernetes-validations");
    assert_eq!(
        create(crd.clone()),
        [
            format!("{p}[0].rule: Required value: rule is not specified"),
            format!(
                "{p}[1].reason: Unsupported value: \"Bogus\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
            ),
            format!("{p}[1].fieldPath: Invalid value: \".nope\": must be a valid path"),
        ]
    );

    let seen = std::cell::RefCell::new(Vec::new());
    let rules = |site: &RulesSite<'_>| {
        seen.borrow_mut()
            .push((site.path.to_string(), site.skip.clone()));
        vec![FieldError::forbidden("cel", "from hook")]
    };
    let defaults = |site: &DefaultSite<'_>| {
        assert_eq!(site.default, &json!(1));
        assert!(!site.inside_meta && site.resource_is_root);
        vec![FieldError::invalid(
            site.path,
            site.default.clone(),
            "from default hook",
        )]
    };
    let hooks = Hooks {
        check_default: Some(&defaults),
        check_rules: Some(&rules),
    };
    // A failing default hook stops rule compilation, like upstream.
    let errs = messages(validate_create_with(&prepared(crd.clone()), &hooks));
    assert_eq!(
        errs[0],
        format!(
            "{SCHEMA}.properties[spec].properties[replicas].default: Invalid value: 1: from default hook"
        )
    );
    assert!(seen.borrow().is_empty());

    let ok_defaults = |_: &DefaultSite<'_>| Vec::new();
    let hooks = Hooks {
        check_default: Some(&ok_defaults),
        check_rules: Some(&rules),
    };
    let errs = messages(validate_create_with(&prepared(crd), &hooks));
    assert_eq!(errs.last().unwrap(), "cel: Forbidden: from hook");
    let seen = seen.borrow();
    assert_eq!(seen[0].0, SCHEMA);
    assert!(seen[0].1.contains(&format!("{SCHEMA}.properties[spec]")));
}

#[test]
fn unknown_fields_in_defaults() {
    let mut crd = good();
    schema_of(&mut crd)["properties"]["spec"]["default"] = json!({"replicas": 2, "extra": true});
    assert_eq!(
        create(crd),
        [format!(
            "{SCHEMA}.properties[spec].default: Invalid value: map[string]interface {{}}{{\"extra\":true, \"replicas\":2}}: must not have unknown fields"
        )]
    );
}

fn established(mut crd: Value) -> Value {
    crd = prepared(crd);
    crd["status"]["conditions"] = json!([{"type": "Established", "status": "True"}]);
    crd
}

#[test]
fn update_rules() {
    let old = established(good());
    let mut new = old.clone();
    new["spec"]["scope"] = json!("Cluster");
    new["spec"]["names"]["kind"] = json!("Gadget");
    new["spec"]["names"]["listKind"] = json!("GadgetList");
    new["spec"]["group"] = json!("other.com");
    prepare_for_update(&mut new, &old);
    assert_eq!(
        messages(validate_update(&new, &old)),
        [
            "spec.scope: Invalid value: \"Cluster\": field is immutable",
            "spec.names.kind: Invalid value: \"Gadget\": field is immutable",
            "spec.group: Invalid value: \"other.com\": field is immutable",
        ]
    );
    assert_eq!(new["metadata"]["generation"], 2);

    // Renaming the only stored version leaves v1 in storedVersions.
    let mut renamed = old.clone();
    renamed["spec"]["versions"][0]["name"] = json!("v2");
    prepare_for_update(&mut renamed, &old);
    assert_eq!(renamed["status"]["storedVersions"], json!(["v1", "v2"]));
    assert_eq!(
        messages(validate_update(&renamed, &old)),
        [
            "status.storedVersions[0]: Invalid value: \"v1\": missing from spec.versions; v1 was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in v1 and removes v1 from status.storedVersions"
        ]
    );
}

#[test]
fn update_ratchets_non_structural_schemas() {
    // An old CRD stored with preserveUnknownFields (v1beta1 era) and a
    // non-structural schema may keep both.
    let mut old = good();
    old["spec"]["preserveUnknownFields"] = json!(true);
    schema_of(&mut old)["properties"]["spec"]["properties"]["replicas"] = json!({"minimum": 0});
    let old = established(old);
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"a": "b"});
    prepare_for_update(&mut new, &old);
    assert_eq!(messages(validate_update(&new, &old)), Vec::<String>::new());
    assert_eq!(
        create(old)[0],
        format!(
            "{SCHEMA}.properties[spec].properties[replicas].type: Required value: must not be empty for specified object fields"
        )
    );
}

#[test]
fn status_update_checks_accepted_names() {
    let old = established(good());
    let mut new = old.clone();
    new["status"]["acceptedNames"] = json!({"plural": "Bad", "kind": "Widget"});
    prepare_for_status_update(&mut new, &old);
    assert_eq!(
        messages(validate_status_update(&new, &old)),
        [
            "status.acceptedNames.plural: Invalid value: \"Bad\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
        ]
    );
}

fn named(plural: &str, kind: &str, short: &[&str]) -> Value {
    let mut crd = good();
    crd["metadata"]["name"] = json!(format!("{plural}.example.com"));
    crd["spec"]["names"] = json!({"plural": plural, "kind": kind, "shortNames": short});
    prepared(crd)
}

fn accept(crd: &mut Value, all: &[&Value]) {
    assert!(sync_names(
        crd,
        all,
        &ReservedNames::default(),
        "2024-01-01T00:00:00Z"
    ));
}

#[test]
fn naming_accepts_fresh_names() {
    let mut w = named("widgets", "Widget", &["wd"]);
    let n = calculate_names(&w, &[], &ReservedNames::default());
    assert_eq!(
        n.accepted_names,
        json!({"plural": "widgets", "singular": "widget", "shortNames": ["wd"], "kind": "Widget", "listKind": "WidgetList"})
    );
    assert_eq!(
        n.names_accepted,
        Condition::new("NamesAccepted", "True", "NoConflicts", "no conflicts found")
    );
    assert_eq!(
        n.established,
        Condition::new(
            "Established",
            "False",
            "Installing",
            "the initial names have been accepted"
        )
    );
    accept(&mut w, &[]);
    assert_eq!(w["status"]["acceptedNames"], n.accepted_names);
    // Nothing left to do once spec and accepted names agree.
    assert!(!sync_names(&mut w, &[], &ReservedNames::default(), "later"));
}

#[test]
fn naming_conflicts_and_retention() {
    let mut widgets = named("widgets", "Widget", &["wd"]);
    accept(&mut widgets, &[]);

    // Short name taken by another CRD of the group.
    let gadgets = named("gadgets", "Gadget", &["wd"]);
    let n = calculate_names(&gadgets, &[&widgets], &ReservedNames::default());
    assert_eq!(
        n.names_accepted,
        Condition::new(
            "NamesAccepted",
            "False",
            "ShortNamesConflict",
            "\"wd\" is already in use"
        )
    );
    assert_eq!(n.accepted_names["plural"], "gadgets");
    assert!(n.accepted_names.get("shortNames").is_none());
    assert_eq!(
        n.established,
        Condition::new(
            "Established",
            "False",
            "NotAccepted",
            "not all names are accepted"
        )
    );

    // Plural taken.
    let mut dup = named("widgets", "Thing", &[]);
    dup["metadata"]["name"] = json!("widgets-again.example.com");
    let n = calculate_names(&dup, &[&widgets], &ReservedNames::default());
    assert_eq!(
        n.names_accepted,
        Condition::new(
            "NamesAccepted",
            "False",
            "PluralConflict",
            "\"widgets\" is already in use"
        )
    );

    // A CRD keeps names it already holds, even if another CRD accepted the
    // same name meanwhile; a new conflicting name leaves the old one.
    let mut mine = widgets.clone();
    mine["spec"]["names"]["shortNames"] = json!(["wd", "gd"]);
    let mut gadgets = named("gadgets", "Gadget", &["gd"]);
    accept(&mut gadgets, &[&widgets]);
    let n = calculate_names(&mine, &[&widgets, &gadgets], &ReservedNames::default());
    assert_eq!(n.accepted_names["shortNames"], json!(["wd"]));
    assert_eq!(n.names_accepted.reason, "ShortNamesConflict");
    assert_eq!(n.names_accepted.message, "\"gd\" is already in use");

    // Reserved names count as taken; other groups do not matter.
    let reserved = ReservedNames {
        resources: ["gizmos".to_string()].into(),
        kinds: Default::default(),
    };
    let gizmos = named("gizmos", "Gizmo", &[]);
    assert_eq!(
        calculate_names(&gizmos, &[], &reserved)
            .names_accepted
            .reason,
        "PluralConflict"
    );
    let mut elsewhere = named("widgets", "Widget", &[]);
    elsewhere["metadata"]["name"] = json!("widgets.other.com");
    elsewhere["spec"]["group"] = json!("other.com");
    assert_eq!(
        calculate_names(&elsewhere, &[&widgets], &ReservedNames::default())
            .names_accepted
            .status,
        "True"
    );
}

#[test]
fn conditions() {
    let mut crd = prepared(good());
    set_condition(&mut crd, &established_condition(), "t1");
    set_condition(&mut crd, &established_condition(), "t2");
    assert_eq!(
        find_condition(&crd, "Established").unwrap(),
        &json!({"type": "Established", "status": "True", "lastTransitionTime": "t1",
            "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"})
    );
    assert!(is_condition_true(&crd, "Established"));
    set_condition(&mut crd, &terminating_condition(), "t3");
    assert_eq!(
        find_condition(&crd, "Terminating").unwrap()["message"],
        "CustomResource deletion is in progress"
    );
    set_condition(&mut crd, &instances_deleted_condition(), "t4");
    assert_eq!(
        find_condition(&crd, "Terminating").unwrap()["lastTransitionTime"],
        "t4"
    );
    remove_condition(&mut crd, "Terminating");
    assert!(find_condition(&crd, "Terminating").is_none());
    assert_eq!(
        CLEANUP_FINALIZER,
        "customresourcecleanup.apiextensions.k8s.io"
    );
}

#[test]
fn version_names_and_deprecation_warnings() {
    let mut crd = good();
    crd["spec"]["versions"][0]["name"] = json!("V1");
    crd["spec"]["versions"][0]["deprecationWarning"] = json!("old");
    let dns = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    assert_eq!(
        create(crd),
        [
            format!("spec.versions[0].name: Invalid value: \"V1\": {dns}"),
            "spec.versions[0].deprecationWarning: Invalid value: \"old\": can only be set for deprecated versions".to_string(),
            format!("spec.version: Invalid value: \"V1\": {dns}"),
        ]
    );
}

#[test]
fn webhook_service_reference() {
    let mut crd = good();
    crd["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {
        "clientConfig": {"service": {"namespace": "", "name": "svc", "path": "convert//x", "port": 0}},
        "conversionReviewVersions": ["v1", "v1"]}});
    assert_eq!(
        create(crd),
        [
            "spec.conversion.webhookClientConfig.service.namespace: Required value",
            "spec.conversion.webhookClientConfig.service.port: Invalid value: 0: port is not valid: must be between 1 and 65535, inclusive",
            "spec.conversion.webhookClientConfig.service.path: Invalid value: \"convert//x\": must start with a '/'",
            "spec.conversion.webhookClientConfig.service.path: Invalid value: \"convert//x\": segment[1] may not be empty",
            "spec.conversion.conversionReviewVersions[1]: Invalid value: \"v1\": duplicate version",
        ]
    );
}

#[test]
fn list_and_map_types() {
    let mut crd = good();
    let spec = &mut schema_of(&mut crd)["properties"]["spec"]["properties"];
    spec["set"] = json!({"type": "array", "x-kubernetes-list-type": "set",
        "items": {"type": "object", "properties": {"a": {"type": "string"}}}});
    spec["m"] = json!({"type": "string", "x-kubernetes-map-type": "fancy"});
    spec["l"] =
        json!({"type": "array", "x-kubernetes-list-type": "bag", "items": {"type": "string"}});
    let p = format!("{SCHEMA}.properties[spec].properties");
    assert_eq!(
        create(crd),
        [
            format!(
                "{p}[l].x-kubernetes-list-type: Unsupported value: \"bag\": supported values: \"atomic\", \"set\", \"map\""
            ),
            format!(
                "{p}[m].type: Invalid value: \"string\": must be object if x-kubernetes-map-type is specified"
            ),
            format!(
                "{p}[m].x-kubernetes-map-type: Unsupported value: \"fancy\": supported values: \"atomic\", \"granular\""
            ),
            format!(
                "{p}[set].items.x-kubernetes-map-type: Invalid value: \"null\": must be atomic as item of a list with x-kubernetes-list-type=set"
            ),
        ]
    );
}

#[test]
fn embedded_resource_defaults_are_located() {
    let mut crd = good();
    schema_of(&mut crd)["properties"]["spec"]["properties"]["template"] = json!({
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "properties": {"metadata": {"type": "object", "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"},
                "default": {"app": "x"}}}}},
    });
    let seen = std::cell::RefCell::new(Vec::new());
    let hook = |site: &DefaultSite<'_>| {
        seen.borrow_mut().push((
            site.path.to_string(),
            site.inside_meta,
            site.resource_is_root,
            site.location.to_vec(),
        ));
        Vec::new()
    };
    let hooks = Hooks {
        check_default: Some(&hook),
        check_rules: None,
    };
    assert_eq!(
        messages(validate_create_with(&prepared(crd), &hooks)),
        Vec::<String>::new()
    );
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1],
        (
            format!(
                "{SCHEMA}.properties[spec].properties[template].properties[metadata].properties[labels].default"
            ),
            true,
            false,
            vec![Step::Field("metadata".into()), Step::Field("labels".into())],
        )
    );
}

#[test]
fn unestablished_crds_may_change_scope_and_kind() {
    let old = prepared(good());
    let mut new = old.clone();
    new["spec"]["scope"] = json!("Cluster");
    new["spec"]["names"]["kind"] = json!("Gadget");
    new["spec"]["names"]["listKind"] = json!("GadgetList");
    prepare_for_update(&mut new, &old);
    assert_eq!(messages(validate_update(&new, &old)), Vec::<String>::new());
}

#[test]
fn approval_state_unchanged_on_update_is_accepted() {
    let mut old = good();
    old["metadata"]["name"] = json!("widgets.x.k8s.io");
    old["spec"]["group"] = json!("x.k8s.io");
    let old = prepared(old);
    let mut new = old.clone();
    new["spec"]["versions"][0]["served"] = json!(false);
    prepare_for_update(&mut new, &old);
    assert_eq!(messages(validate_update(&new, &old)), Vec::<String>::new());
    assert_eq!(
        messages(validate_create(&old)).len(),
        1,
        "create still requires approval"
    );
}
