//! The review resources (`authorization.k8s.io/v1` SelfSubjectAccessReview,
//! SelfSubjectRulesReview, SubjectAccessReview, LocalSubjectAccessReview;
//! `authentication.k8s.io/v1` SelfSubjectReview, TokenReview) as registry
//! entries.
//!
//! They are registered like any built-in so that discovery, OpenAPI and
//! protobuf negotiation see them exactly as they see stored resources —
//! kubectl's `auth can-i` and `auth whoami` look the groups up before
//! posting, and `kubectl api-resources` lists them with verbs `[create]`.
//! They are never stored: `handlers::review` intercepts every request for
//! them before the generic store is reached, and only borrows the
//! definition's typed decoding (through the strategy here) and its
//! protobuf capability. Their keyspaces exist only because every
//! `ResourceDef` has one; nothing is ever written under them.

use std::marker::PhantomData;
use std::sync::Arc;

use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenReview};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Spec, def};
use crate::error::ApiResult;
use crate::registry::{Decoded, ResourceDef, Strategy};
use crate::request::params::FieldValidation;
use crate::schemas::Definitions;

pub const AUTHORIZATION_GROUP: &str = "authorization.k8s.io";
pub const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";

/// Typed decoding through the k8s-openapi struct, as for stored built-ins:
/// unknown fields are dropped and reported (so `fieldValidation` applies),
/// wrongly typed fields are a 400.
struct ReviewStrategy<T> {
    kind: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> ReviewStrategy<T> {
    fn new(kind: &'static str) -> Arc<Self> {
        Arc::new(ReviewStrategy {
            kind,
            _type: PhantomData,
        })
    }
}

impl<T: DeserializeOwned + Serialize + 'static> Strategy for ReviewStrategy<T> {
    fn decode(&self, body: Value, _: FieldValidation) -> ApiResult<Decoded> {
        super::typed::decode::<T>(body, self.kind, "v1")
    }
}

fn spec(
    group: &'static str,
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    strategy: Arc<dyn Strategy>,
) -> Spec {
    Spec {
        group,
        version: "v1",
        resource,
        singular,
        kind,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: &["create"],
        storage: None,
        status_subresource: false,
        extra_subresources: &[],
        strategy,
        converter: None,
    }
}

/// The six review resources.
pub(super) fn defs(defs: &mut Definitions) -> Vec<ResourceDef> {
    vec![
        def::<SelfSubjectReview>(
            defs,
            spec(
                AUTHENTICATION_GROUP,
                "selfsubjectreviews",
                "selfsubjectreview",
                "SelfSubjectReview",
                false,
                ReviewStrategy::<SelfSubjectReview>::new("SelfSubjectReview"),
            ),
        ),
        def::<TokenReview>(
            defs,
            spec(
                AUTHENTICATION_GROUP,
                "tokenreviews",
                "tokenreview",
                "TokenReview",
                false,
                ReviewStrategy::<TokenReview>::new("TokenReview"),
            ),
        ),
        def::<LocalSubjectAccessReview>(
            defs,
            spec(
                AUTHORIZATION_GROUP,
                "localsubjectaccessreviews",
                "localsubjectaccessreview",
                "LocalSubjectAccessReview",
                true,
                ReviewStrategy::<LocalSubjectAccessReview>::new("LocalSubjectAccessReview"),
            ),
        ),
        def::<SelfSubjectAccessReview>(
            defs,
            spec(
                AUTHORIZATION_GROUP,
                "selfsubjectaccessreviews",
                "selfsubjectaccessreview",
                "SelfSubjectAccessReview",
                false,
                ReviewStrategy::<SelfSubjectAccessReview>::new("SelfSubjectAccessReview"),
            ),
        ),
        def::<SelfSubjectRulesReview>(
            defs,
            spec(
                AUTHORIZATION_GROUP,
                "selfsubjectrulesreviews",
                "selfsubjectrulesreview",
                "SelfSubjectRulesReview",
                false,
                ReviewStrategy::<SelfSubjectRulesReview>::new("SelfSubjectRulesReview"),
            ),
        ),
        def::<SubjectAccessReview>(
            defs,
            spec(
                AUTHORIZATION_GROUP,
                "subjectaccessreviews",
                "subjectaccessreview",
                "SubjectAccessReview",
                false,
                ReviewStrategy::<SubjectAccessReview>::new("SubjectAccessReview"),
            ),
        ),
    ]
}
