//! Envelope, list, watch-frame, Go-compatibility and error tests.

use crate::proto_support::*;
use k8s_pb::api::{core::v1 as core, rbac::v1 as rbac};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as metav1;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use prost::Message;
use serde_json::{Value, json};
use trellis_apis::proto::ProtoError;

fn small_cm() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
}

// ------------------------------------------------------------------ envelope

#[test]
fn envelope_exact_bytes() {
    let body = trellis_apis::proto::encode(&small_cm()).unwrap();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &b"k8s\0"[..],
        // runtime.Unknown.typeMeta (1, len 15): apiVersion (1) "v1", kind (2) "ConfigMap"
        &[0x0a, 0x0f, 0x0a, 0x02], b"v1", &[0x12, 0x09], b"ConfigMap",
        // raw (2, len 5): ConfigMap{metadata (1): ObjectMeta{name (1): "a"}}
        &[0x12, 0x05, 0x0a, 0x03, 0x0a, 0x01], b"a",
        // contentEncoding (3) "", contentType (4) "" — written out like Go's NestedMarshalTo
        &[0x1a, 0x00, 0x22, 0x00],
    ]
    .concat();
    assert_eq!(body, expected);
}

#[test]
fn envelope_type_meta() {
    let body = trellis_apis::proto::encode(&small_cm()).unwrap();
    let unknown = Unknown::decode(&body[4..]).unwrap();
    assert_eq!(
        unknown.type_meta,
        Some(TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into())
        })
    );
    assert_eq!(unknown.content_encoding.as_deref(), Some(""));
    assert_eq!(unknown.content_type.as_deref(), Some(""));
    assert_eq!(
        trellis_apis::proto::type_meta(&body).unwrap(),
        ("v1".to_string(), "ConfigMap".to_string())
    );
    // Group versions are carried verbatim.
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"});
    let body = trellis_apis::proto::encode(&lease).unwrap();
    assert_eq!(
        trellis_apis::proto::type_meta(&body).unwrap(),
        ("coordination.k8s.io/v1".to_string(), "Lease".to_string())
    );
}

#[test]
fn decode_sets_api_version_and_kind_from_envelope() {
    // A Go-produced envelope: the inner message has no TypeMeta of its own.
    let cm = core::ConfigMap {
        metadata: Some(metav1::ObjectMeta {
            name: Some("x".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let body = wrap("v1", "ConfigMap", &cm);
    assert_eq!(
        trellis_apis::proto::decode(&body).unwrap(),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    );
}

#[test]
fn envelope_without_optional_strings_and_raw() {
    // contentEncoding/contentType absent and raw absent: an empty object.
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
        }),
        ..Default::default()
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    assert_eq!(
        trellis_apis::proto::decode(&body).unwrap(),
        json!({"apiVersion": "v1", "kind": "Secret"})
    );
}

#[test]
fn wrong_magic_is_rejected() {
    let mut body = trellis_apis::proto::encode(&small_cm()).unwrap();
    body[3] = 0x01;
    assert!(matches!(
        trellis_apis::proto::decode(&body),
        Err(ProtoError::BadMagic { .. })
    ));
    let json_body = serde_json::to_vec(&small_cm()).unwrap();
    let err = trellis_apis::proto::decode(&json_body).unwrap_err();
    assert!(matches!(err, ProtoError::BadMagic { .. }));
    assert!(
        err.to_string().contains("expected prefix 6b 38 73 00"),
        "{err}"
    );
    assert!(matches!(
        trellis_apis::proto::decode(b"k8"),
        Err(ProtoError::BadMagic { .. })
    ));
    assert!(matches!(
        trellis_apis::proto::decode(b""),
        Err(ProtoError::Empty)
    ));
    assert!(matches!(
        trellis_apis::proto::decode(b"k8s\0"),
        Err(ProtoError::EmptyEnvelope)
    ));
}

#[test]
fn missing_type_meta_is_rejected() {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some("v1".into()),
            kind: None,
        }),
        raw: Some(vec![]),
        ..Default::default()
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    assert!(matches!(
        trellis_apis::proto::decode(&body),
        Err(ProtoError::MissingTypeMeta("kind"))
    ));
}

#[test]
fn content_encoding_is_rejected() {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
        }),
        raw: Some(vec![]),
        content_encoding: Some("gzip".into()),
        content_type: None,
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    assert!(
        matches!(trellis_apis::proto::decode(&body), Err(ProtoError::ContentEncoding(e)) if e == "gzip")
    );
}

#[test]
fn truncated_input_is_rejected() {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("t"),
                     "data": {"k": "v"}});
    let body = trellis_apis::proto::encode(&obj).unwrap();
    // Every strict prefix past the magic is malformed: the envelope's length-delimited
    // fields run past the end of the input.
    // (Cutting right after the typeMeta field leaves a valid envelope without raw.)
    let type_meta_end = 4 + 2 + body[5] as usize;
    for cut in (5..body.len() - 4).filter(|&c| c != type_meta_end) {
        let err = trellis_apis::proto::decode(&body[..cut]).expect_err("truncated body decoded");
        assert!(
            matches!(err, ProtoError::Decode { .. }),
            "cut at {cut}: unexpected {err}"
        );
    }
    // A truncated inner message inside an intact envelope.
    let (_, cm) = unwrap::<core::ConfigMap>(&body);
    let raw = cm.encode_to_vec();
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
        }),
        raw: Some(raw[..raw.len() - 3].to_vec()),
        ..Default::default()
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    let err = trellis_apis::proto::decode(&body).unwrap_err();
    assert!(
        matches!(&err, ProtoError::Decode { what, .. } if what == "ConfigMap"),
        "{err}"
    );
}

#[test]
fn unknown_kind() {
    assert!(!trellis_apis::proto::supports("v1", "Pod"));
    assert!(!trellis_apis::proto::supports("apps/v1", "ConfigMap"));
    assert!(!trellis_apis::proto::supports("v2", "Namespace"));
    assert!(trellis_apis::proto::supports("v1", "ConfigMap"));
    assert!(trellis_apis::proto::supports("v1", "ConfigMapList"));
    assert!(trellis_apis::proto::supports(
        "events.k8s.io/v1",
        "EventList"
    ));
    assert!(trellis_apis::proto::supports("apps/v1", "DeleteOptions"));
    assert!(trellis_apis::proto::supports("v1", "Status"));

    let err = trellis_apis::proto::encode(&json!({"apiVersion": "v1", "kind": "Pod"})).unwrap_err();
    assert!(matches!(&err, ProtoError::Unsupported { api_version, kind }
        if api_version == "v1" && kind == "Pod"));
    assert_eq!(
        err.to_string(),
        "protobuf is not supported for apiVersion \"v1\" kind \"Pod\""
    );

    let body = wrap("v1", "Pod", &core::Pod::default());
    assert!(matches!(
        trellis_apis::proto::decode(&body),
        Err(ProtoError::Unsupported { .. })
    ));
    // type_meta still works for bodies of unsupported kinds.
    assert_eq!(trellis_apis::proto::type_meta(&body).unwrap().1, "Pod");

    assert!(matches!(
        trellis_apis::proto::encode(&json!({"kind": "ConfigMap"})),
        Err(ProtoError::MissingJsonTypeField("apiVersion"))
    ));
    assert!(matches!(
        trellis_apis::proto::encode(&json!({"apiVersion": "v1"})),
        Err(ProtoError::MissingJsonTypeField("kind"))
    ));
}

// ------------------------------------------------------------------ lists

fn list_cases() -> Vec<(&'static str, &'static str, Value)> {
    let role = json!({"metadata": meta("r"), "rules": [policy_rule()]});
    let binding = json!({
        "metadata": meta("b"),
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "jane"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    });
    vec![
        (
            "v1",
            "NamespaceList",
            json!({"metadata": meta("ns"), "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        ),
        (
            "v1",
            "ConfigMapList",
            json!({"metadata": meta("cm"), "data": {"a": "b"}}),
        ),
        (
            "v1",
            "SecretList",
            json!({"metadata": meta("s"), "data": {"a": "Yg=="}, "type": "Opaque"}),
        ),
        (
            "v1",
            "ServiceAccountList",
            json!({"metadata": meta("sa"), "automountServiceAccountToken": true}),
        ),
        (
            "v1",
            "EventList",
            json!({"metadata": meta("e"), "involvedObject": object_reference("x"), "reportingComponent": "", "reportingInstance": ""}),
        ),
        (
            "events.k8s.io/v1",
            "EventList",
            json!({"metadata": meta("e"), "eventTime": "2026-01-02T03:04:05.000000Z", "regarding": object_reference("x")}),
        ),
        (
            "coordination.k8s.io/v1",
            "LeaseList",
            json!({"metadata": meta("l"), "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}),
        ),
        ("rbac.authorization.k8s.io/v1", "RoleList", role.clone()),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleList", role),
        (
            "rbac.authorization.k8s.io/v1",
            "RoleBindingList",
            binding.clone(),
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBindingList",
            binding,
        ),
    ]
}

#[test]
fn list_round_trip() {
    for (api_version, kind, item) in list_cases() {
        let mut second = item.clone();
        second["metadata"]["name"] = json!("second");
        let items = vec![item, second];
        let body =
            trellis_apis::proto::encode_list(api_version, kind, &list_meta(), &items).unwrap();
        assert_eq!(
            trellis_apis::proto::type_meta(&body).unwrap(),
            (api_version.to_string(), kind.to_string())
        );
        let expected = json!({"apiVersion": api_version, "kind": kind,
                              "metadata": list_meta(), "items": items});
        assert_eq!(
            trellis_apis::proto::decode(&body).unwrap(),
            expected,
            "{kind}"
        );
        // encode() of the list JSON produces the same bytes as encode_list().
        assert_eq!(
            trellis_apis::proto::encode(&expected).unwrap(),
            body,
            "{kind}"
        );
    }
}

#[test]
fn list_wire_layout_and_item_type_meta() {
    // Items given with apiVersion/kind (as stored) lose them: list items carry none.
    let items = vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
        json!({"metadata": {"name": "b"}, "data": {"k": "v"}}),
    ];
    let body =
        trellis_apis::proto::encode_list("v1", "ConfigMapList", &list_meta(), &items).unwrap();
    let (tm, list) = unwrap::<core::ConfigMapList>(&body);
    assert_eq!(tm.kind.as_deref(), Some("ConfigMapList"));
    assert_eq!(
        list.metadata.unwrap().r#continue.as_deref(),
        Some("token-abc")
    );
    assert_eq!(list.items.len(), 2);
    assert_eq!(list.items[1].data["k"], "v");
    let decoded = trellis_apis::proto::decode(&body).unwrap();
    assert_eq!(decoded["items"][0], json!({"metadata": {"name": "a"}}));
}

#[test]
fn empty_list_has_empty_items_array() {
    let body =
        trellis_apis::proto::encode_list("v1", "SecretList", &json!({"resourceVersion": "5"}), &[])
            .unwrap();
    assert_eq!(
        trellis_apis::proto::decode(&body).unwrap(),
        json!({"apiVersion": "v1", "kind": "SecretList",
               "metadata": {"resourceVersion": "5"}, "items": []})
    );
    let body = trellis_apis::proto::encode_list("v1", "SecretList", &Value::Null, &[]).unwrap();
    assert_eq!(
        trellis_apis::proto::decode(&body).unwrap(),
        json!({"apiVersion": "v1", "kind": "SecretList", "items": []})
    );
}

#[test]
fn encode_list_rejects_non_list_kinds() {
    assert!(matches!(
        trellis_apis::proto::encode_list("v1", "ConfigMap", &json!({}), &[]),
        Err(ProtoError::Unsupported { .. })
    ));
    assert!(matches!(
        trellis_apis::proto::encode_list("v1", "PodList", &json!({}), &[]),
        Err(ProtoError::Unsupported { .. })
    ));
    let err =
        trellis_apis::proto::encode_list("v1", "ConfigMapList", &json!({}), &[json!({"data": 1})])
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value at ConfigMapList.items[0].data: expected object, got number"
    );
}

// ------------------------------------------------------------------ watch

#[test]
fn watch_frame_layout() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("w"),
                    "data": {"k": "v"}});
    let frame = trellis_apis::proto::encode_watch_frame("ADDED", &cm).unwrap();
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(len, frame.len() - 4);
    // The frame body is a bare WatchEvent (no k8s\0 prefix, no envelope).
    assert_ne!(&frame[4..8], b"k8s\0");
    let event = metav1::WatchEvent::decode(&frame[4..]).unwrap();
    assert_eq!(event.r#type.as_deref(), Some("ADDED"));
    let raw = event.object.unwrap().raw.unwrap();
    // The embedded object is a complete k8s\0 + runtime.Unknown encoding.
    assert_eq!(raw, trellis_apis::proto::encode(&cm).unwrap());
    assert_eq!(trellis_apis::proto::decode(&raw).unwrap(), cm);
}

#[test]
fn watch_stream_of_several_frames() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "1"}});
    let deleted = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "2"}});
    let bookmark = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"resourceVersion": "3", "annotations": {"k8s.io/initial-events-end": "true"}}});
    let status = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                        "message": "too old resource version", "reason": "Expired", "code": 410});
    let events = [
        ("ADDED", &cm),
        ("DELETED", &deleted),
        ("BOOKMARK", &bookmark),
        ("ERROR", &status),
    ];
    let mut stream = Vec::new();
    for (t, o) in events {
        stream.extend(trellis_apis::proto::encode_watch_frame(t, o).unwrap());
    }
    let mut rest = &stream[..];
    for (t, o) in events {
        let (typ, obj, used) = trellis_apis::proto::decode_watch_frame(rest).unwrap();
        assert_eq!((typ.as_str(), &obj), (t, o));
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
}

#[test]
fn watch_frame_errors() {
    let frame = trellis_apis::proto::encode_watch_frame("ADDED", &small_cm()).unwrap();
    assert!(matches!(
        trellis_apis::proto::decode_watch_frame(&frame[..3]),
        Err(ProtoError::TruncatedFrame {
            needed: 4,
            available: 3
        })
    ));
    let err = trellis_apis::proto::decode_watch_frame(&frame[..frame.len() - 1]).unwrap_err();
    assert!(matches!(err, ProtoError::TruncatedFrame { .. }), "{err}");
    // Unsupported objects cannot be framed.
    assert!(matches!(
        trellis_apis::proto::encode_watch_frame(
            "ADDED",
            &json!({"apiVersion": "v1", "kind": "Pod"})
        ),
        Err(ProtoError::Unsupported { .. })
    ));
    // An embedded object without the k8s prefix is rejected, as client-go would.
    let event = metav1::WatchEvent {
        r#type: Some("ADDED".into()),
        object: Some(RawExtension {
            raw: Some(b"{}".to_vec()),
        }),
    };
    let body = event.encode_to_vec();
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend(body);
    assert!(matches!(
        trellis_apis::proto::decode_watch_frame(&frame),
        Err(ProtoError::BadMagic { .. })
    ));
}

// ------------------------------------------------------------------ Go-style input

/// client-go (gogo protobuf) writes every non-pointer field, zero values included, and an
/// empty message for a zero metav1.Time. The JSON must look like Go's JSON of that object.
#[test]
fn go_style_zero_values() {
    let s = |v: &str| Some(v.to_string());
    let meta = metav1::ObjectMeta {
        name: s("cfg"),
        generate_name: s(""),
        namespace: s(""),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(metav1::Time::default()),
        deletion_timestamp: None,
        deletion_grace_period_seconds: None,
        ..Default::default()
    };
    let cm = core::ConfigMap {
        metadata: Some(meta.clone()),
        immutable: None,
        ..Default::default()
    };
    let out = trellis_apis::proto::decode(&wrap("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(
        out,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}})
    );

    // Non-omitempty Go fields keep their zero values; omitempty ones drop them.
    let rb = rbac::RoleBinding {
        metadata: Some(meta),
        subjects: vec![rbac::Subject {
            kind: s("ServiceAccount"),
            api_group: s(""),
            name: s("default"),
            namespace: s("kube-system"),
        }],
        role_ref: Some(rbac::RoleRef {
            api_group: s(""),
            kind: s(""),
            name: s(""),
        }),
    };
    let out =
        trellis_apis::proto::decode(&wrap("rbac.authorization.k8s.io/v1", "RoleBinding", &rb))
            .unwrap();
    assert_eq!(
        out,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "cfg"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"}],
            "roleRef": {"apiGroup": "", "kind": "", "name": ""}
        })
    );

    // Empty nested structs stay as {} (Go's JSON shows "spec": {}, "status": {}).
    let ns = core::Namespace {
        metadata: Some(metav1::ObjectMeta::default()),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus {
            phase: s(""),
            conditions: vec![],
        }),
    };
    let out = trellis_apis::proto::decode(&wrap("v1", "Namespace", &ns)).unwrap();
    assert_eq!(
        out,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {}, "spec": {}, "status": {}})
    );
}

#[test]
fn time_wire_format() {
    let obj = json!({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"creationTimestamp": "2026-01-02T03:04:05.999Z"}});
    let body = trellis_apis::proto::encode(&obj).unwrap();
    let (_, ns) = unwrap::<core::Namespace>(&body);
    // metav1.Time carries whole seconds only (time_proto.go drops nanos).
    assert_eq!(
        ns.metadata.unwrap().creation_timestamp,
        Some(metav1::Time {
            seconds: Some(1_767_323_045),
            nanos: None
        })
    );
    assert_eq!(
        trellis_apis::proto::decode(&body).unwrap()["metadata"]["creationTimestamp"],
        "2026-01-02T03:04:05Z"
    );
    // Offsets are normalised to UTC.
    let obj = json!({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"creationTimestamp": "2026-01-02T05:04:05+02:00"}});
    let back = trellis_apis::proto::decode(&trellis_apis::proto::encode(&obj).unwrap()).unwrap();
    assert_eq!(
        back["metadata"]["creationTimestamp"],
        "2026-01-02T03:04:05Z"
    );
}

// ------------------------------------------------------------------ JSON errors

#[test]
fn json_type_errors_name_the_field() {
    let cases = [
        (
            json!({"metadata": {"labels": {"a": 1}}}),
            "ConfigMap.metadata.labels.a: expected string, got number",
        ),
        (
            json!({"metadata": {"generation": "7"}}),
            "ConfigMap.metadata.generation: expected integer",
        ),
        (
            json!({"metadata": {"creationTimestamp": "yesterday"}}),
            "ConfigMap.metadata.creationTimestamp: invalid RFC 3339 timestamp",
        ),
        (
            json!({"binaryData": {"b": "not base64!"}}),
            "ConfigMap.binaryData.b: invalid base64",
        ),
        (
            json!({"metadata": {"finalizers": ["a", 2]}}),
            "ConfigMap.metadata.finalizers[1]: expected string",
        ),
        (
            json!({"immutable": "yes"}),
            "ConfigMap.immutable: expected boolean",
        ),
        (
            json!({"metadata": []}),
            "ConfigMap.metadata: expected object, got array",
        ),
    ];
    for (mut obj, expected) in cases {
        obj["apiVersion"] = json!("v1");
        obj["kind"] = json!("ConfigMap");
        let err = trellis_apis::proto::encode(&obj).unwrap_err();
        assert!(matches!(err, ProtoError::Field { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
    }
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "spec": {"leaseDurationSeconds": 4_294_967_296_i64}});
    let err = trellis_apis::proto::encode(&lease).unwrap_err().to_string();
    assert!(
        err.contains("Lease.spec.leaseDurationSeconds: integer 4294967296 out of range"),
        "{err}"
    );
}

#[test]
fn nulls_are_absent() {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "n", "labels": null, "creationTimestamp": null},
                     "data": null, "immutable": null});
    let back = trellis_apis::proto::decode(&trellis_apis::proto::encode(&obj).unwrap()).unwrap();
    assert_eq!(
        back,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}})
    );
}

#[test]
fn invalid_fields_v1_from_the_wire() {
    let meta = metav1::ObjectMeta {
        managed_fields: vec![metav1::ManagedFieldsEntry {
            fields_v1: Some(metav1::FieldsV1 {
                raw: Some(b"{not json".to_vec()),
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let cm = core::ConfigMap {
        metadata: Some(meta),
        ..Default::default()
    };
    let err = trellis_apis::proto::decode(&wrap("v1", "ConfigMap", &cm))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "ConfigMap.metadata.managedFields[0].fieldsV1: FieldsV1 raw is not valid JSON"
        ),
        "{err}"
    );
}

#[test]
fn content_type_constants() {
    assert_eq!(
        trellis_apis::proto::CONTENT_TYPE,
        "application/vnd.kubernetes.protobuf"
    );
    assert_eq!(
        trellis_apis::proto::WATCH_CONTENT_TYPE,
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    assert_eq!(trellis_apis::proto::MAGIC, *b"k8s\0");
}
