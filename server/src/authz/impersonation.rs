//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the caller acts
//! as another user, if RBAC lets it `impersonate` each part of that user.
//!
//! As upstream's impersonation filter: every requested part is checked on
//! its own — the user (`users`, or `serviceaccounts` in the account's
//! namespace when the name is a ServiceAccount's), each group (`groups`),
//! the uid (`uids`) and each extra value (`userextras/<key>`, API group
//! `authentication.k8s.io`); the first part refused answers 403 naming it.
//! Groups, uid or extras without a user are a 400. The impersonated user
//! gets `system:authenticated` (or `system:unauthenticated` for
//! `system:anonymous`), and a ServiceAccount with no requested groups gets
//! its ServiceAccount groups. The check runs in the workspace addressed,
//! which is where the caller's `impersonate` grants live.
//!
//! Two rules from kcp keep a workspace owner (whose `cluster-admin` there
//! includes `impersonate`) inside that workspace:
//!
//! * the gatekeeper ([`gatekeeper`]): nobody but `system:masters` may ask
//!   for a server-global identity — the group `system:masters`, any
//!   `system:kcp:` group or user, or the `*.kcp.io` extras the server uses
//!   to scope identities — that it does not already hold;
//! * scoping: the impersonated identity gets
//!   `authentication.kcp.io/scopes: cluster:<workspace>`, so wherever it is
//!   recorded and evaluated later (an APIBinding's binder, a Workspace's
//!   owner) it counts only in the workspace it was granted in
//!   ([`crate::authz::cache::scope_to_cluster`]).

use std::collections::BTreeMap;

use http::HeaderMap;
use trellis_apis::rbac::attributes::{
    ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, service_account_groups,
    split_service_account_username,
};
use trellis_apis::rbac::{Attributes, UserInfo, forbidden_status};

use super::Authorizer;
use super::cache::ACCESS_DENIED;
use crate::error::{ApiError, ApiResult};

pub const USER_HEADER: &str = "impersonate-user";
pub const UID_HEADER: &str = "impersonate-uid";
pub const GROUP_HEADER: &str = "impersonate-group";
pub const EXTRA_PREFIX: &str = "impersonate-extra-";

/// The identity a request asks to act as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requested {
    pub user: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

fn header_text(v: &http::HeaderValue) -> ApiResult<String> {
    v.to_str()
        .map(str::to_string)
        .map_err(|_| ApiError::bad_request("impersonation headers must be valid text"))
}

/// Reads the impersonation headers; `None` when there are none.
pub fn requested(headers: &HeaderMap) -> ApiResult<Option<Requested>> {
    let mut user = None;
    let mut r = Requested::default();
    let mut any = false;
    for (name, value) in headers {
        let name = name.as_str();
        if name == USER_HEADER {
            user = Some(header_text(value)?);
        } else if name == UID_HEADER {
            r.uid = Some(header_text(value)?);
            any = true;
        } else if name == GROUP_HEADER {
            r.groups.push(header_text(value)?);
            any = true;
        } else if let Some(key) = name.strip_prefix(EXTRA_PREFIX) {
            // Keys travel percent-encoded (they may hold `/`), and header
            // names are case-insensitive, so keys are lower case.
            let key = percent_decode(key).to_ascii_lowercase();
            r.extra.entry(key).or_default().push(header_text(value)?);
            any = true;
        }
    }
    match user {
        Some(u) => {
            r.user = u;
            Ok(Some(r))
        }
        None if any => {
            let mut parts = Vec::new();
            for g in &r.groups {
                parts.push(format!("groups={g}"));
            }
            if let Some(uid) = &r.uid {
                parts.push(format!("uid={uid}"));
            }
            for (k, vs) in &r.extra {
                for v in vs {
                    parts.push(format!("extra[{k}]={v}"));
                }
            }
            Err(ApiError::bad_request(format!(
                "requested [{}] without impersonating a user",
                parts.join(" ")
            )))
        }
        None => Ok(None),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `impersonate` checks of one request, in upstream's order.
fn checks(r: &Requested, actor: &UserInfo) -> Vec<Attributes> {
    let mut out = Vec::new();
    let imp = |ns: &str, group: &str, resource: &str, sub: &str, name: &str| {
        Attributes::resource(
            actor.clone(),
            "impersonate",
            ns,
            group,
            "",
            resource,
            sub,
            name,
        )
    };
    match split_service_account_username(&r.user) {
        Some((ns, name)) => out.push(imp(ns, "", "serviceaccounts", "", name)),
        None => out.push(imp("", "", "users", "", &r.user)),
    }
    for g in &r.groups {
        out.push(imp("", "", "groups", "", g));
    }
    if let Some(uid) = &r.uid {
        out.push(imp("", "authentication.k8s.io", "uids", "", uid));
    }
    for (k, vs) in &r.extra {
        for v in vs {
            out.push(imp("", "authentication.k8s.io", "userextras", k, v));
        }
    }
    out
}

/// kcp's refusal when a request asks for an identity above the caller's.
pub const NOT_ALLOWED: &str = "forbidden: impersonation is not allowed for the requestor";

/// Whether `name` is a server-global identity (group or user).
fn privileged(name: &str) -> bool {
    name == trellis_apis::rbac::SYSTEM_MASTERS || name.starts_with("system:kcp:")
}

/// Refuses, for callers outside `system:masters`, any privileged group or
/// user they do not already have and the server's own `*.kcp.io` extras.
pub fn gatekeeper(r: &Requested, actor: &UserInfo) -> ApiResult<()> {
    if actor.in_group(trellis_apis::rbac::SYSTEM_MASTERS) {
        return Ok(());
    }
    let group_ok = |g: &String| !privileged(g) || actor.in_group(g);
    let user_ok = !privileged(&r.user) || r.user == actor.name;
    let extra_ok = r.extra.keys().all(|k| {
        !(k.starts_with("authentication.kcp.io/") || k.starts_with("authorization.kcp.io/"))
    });
    if r.groups.iter().all(group_ok) && user_ok && extra_ok {
        Ok(())
    } else {
        Err(trellis_apis::Status::failure(403, "Forbidden", NOT_ALLOWED).into())
    }
}

/// The user to act as, if `actor` may impersonate every part of it in
/// `cluster` (`None`: a workspace that does not resolve, where only masters
/// are allowed anything).
pub async fn impersonate(
    authz: &Authorizer,
    cluster: Option<&str>,
    actor: &UserInfo,
    r: Requested,
) -> ApiResult<UserInfo> {
    gatekeeper(&r, actor)?;
    for attrs in checks(&r, actor) {
        let allowed = match cluster {
            Some(c) => authz.authorize(c, &attrs).await?.is_allowed(),
            None => actor.in_group(trellis_apis::rbac::SYSTEM_MASTERS),
        };
        if !allowed {
            let reason = if cluster.is_none() { ACCESS_DENIED } else { "" };
            return Err(forbidden_status(&attrs, reason).into());
        }
    }
    let mut groups = r.groups;
    if groups.is_empty()
        && let Some((ns, _)) = split_service_account_username(&r.user)
    {
        groups.extend(service_account_groups(ns));
    }
    let implicit = if r.user == ANONYMOUS {
        ALL_UNAUTHENTICATED
    } else {
        ALL_AUTHENTICATED
    };
    if !groups.iter().any(|g| g == implicit) {
        groups.push(implicit.to_string());
    }
    let mut extra = r.extra;
    if let Some(c) = cluster
        && !actor.in_group(trellis_apis::rbac::SYSTEM_MASTERS)
    {
        extra
            .entry(crate::authz::cache::SCOPES_EXTRA.to_string())
            .or_default()
            .push(format!("cluster:{c}"));
    }
    Ok(UserInfo {
        name: r.user,
        uid: r.uid.unwrap_or_default(),
        groups,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn reads_headers() {
        assert_eq!(requested(&headers(&[])).unwrap(), None);
        let r = requested(&headers(&[
            ("Impersonate-User", "bob"),
            ("Impersonate-Group", "g1"),
            ("Impersonate-Group", "g2"),
            ("Impersonate-Extra-Scopes%2Fa", "x"),
            ("Impersonate-Uid", "u-1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(r.user, "bob");
        assert_eq!(r.groups, ["g1", "g2"]);
        assert_eq!(r.uid.as_deref(), Some("u-1"));
        assert_eq!(r.extra["scopes/a"], ["x"]);
        let e = requested(&headers(&[("Impersonate-Group", "g1")])).unwrap_err();
        assert_eq!(e.code(), 400);
        assert_eq!(
            e.status().message,
            "requested [groups=g1] without impersonating a user"
        );
    }

    #[test]
    fn gatekeeper_keeps_global_identities_global() {
        let r = |user: &str, groups: &[&str], extra: &[&str]| Requested {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            uid: None,
            extra: extra
                .iter()
                .map(|k| (k.to_string(), vec!["cluster:x".to_string()]))
                .collect(),
        };
        let owner = UserInfo::new("owner");
        let mut admin = UserInfo::new("kcp-admin");
        admin.groups = vec!["system:kcp:admin".into()];
        let mut master = UserInfo::new("root");
        master.groups = vec![trellis_apis::rbac::SYSTEM_MASTERS.into()];
        let refused = |req: &Requested, actor: &UserInfo| {
            let e = gatekeeper(req, actor).unwrap_err();
            assert_eq!((e.code(), e.status().message.as_str()), (403, NOT_ALLOWED));
        };
        refused(&r("bob", &["system:masters"], &[]), &owner);
        refused(
            &r("bob", &["system:kcp:logical-cluster-admin"], &[]),
            &owner,
        );
        refused(&r("system:kcp:serviceaccount:c:ns:sa", &[], &[]), &owner);
        refused(
            &r("bob", &[], &["authentication.kcp.io/cluster-name"]),
            &owner,
        );
        refused(&r("bob", &[], &["authorization.kcp.io/warrant"]), &owner);
        // kcp: a privileged group does not reach the top level.
        refused(&r("bob", &["system:masters"], &[]), &admin);
        // Held groups, ordinary groups and users pass; masters pass all.
        gatekeeper(&r("bob", &["system:kcp:admin"], &[]), &admin).unwrap();
        gatekeeper(
            &r("bob", &["devs", "system:authenticated"], &["scopes"]),
            &owner,
        )
        .unwrap();
        gatekeeper(&r("system:serviceaccount:ns:sa", &[], &[]), &owner).unwrap();
        gatekeeper(
            &r("x", &["system:masters"], &["authentication.kcp.io/scopes"]),
            &master,
        )
        .unwrap();
    }

    #[test]
    fn check_order_and_resources() {
        let actor = UserInfo::new("alice");
        let r = Requested {
            user: "system:serviceaccount:ns:bot".into(),
            groups: vec!["g".into()],
            uid: Some("1".into()),
            extra: BTreeMap::from([("k".to_string(), vec!["v".to_string()])]),
        };
        let c = checks(&r, &actor);
        let summary: Vec<_> = c
            .iter()
            .map(|a| {
                (
                    a.namespace.as_str(),
                    a.api_group.as_str(),
                    a.combined_resource(),
                    a.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("ns", "", "serviceaccounts".to_string(), "bot"),
                ("", "", "groups".to_string(), "g"),
                ("", "authentication.k8s.io", "uids".to_string(), "1"),
                ("", "authentication.k8s.io", "userextras/k".to_string(), "v"),
            ]
        );
    }
}
