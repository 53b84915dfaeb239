//! Where objects change form: stored ↔ working ↔ served.
//!
//! Every definition has a *working form*, the form the store prepares,
//! validates and admits objects in (see [`Conversion`]): for the storage
//! version and for versions converted in process it is the stored form;
//! for versions converted by a webhook it is the served form, and the
//! webhook is called only where objects meet storage (reads, and right
//! before a write), never inside a strategy. These functions are the only
//! places a [`Conversion`] is applied, so a remote conversion's failure
//! always becomes the same `500 InternalError` (kube's answer: the
//! webhook's message, `conversion webhook for <gvk> failed: …`).

use bytes::Bytes;
use serde_json::Value;
use trellis_apis::Status;

use super::ResourceDef;
use super::resource::Conversion;
use super::store::Store;
use crate::error::{ApiError, ApiResult};
use crate::meta;

fn parse(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal("stored object is not valid JSON", e))
}

/// An object's bytes as kube-apiserver writes them (Go's key order).
fn to_json(v: &Value) -> Bytes {
    Bytes::from(trellis_apis::proto::order::to_vec(v))
}

fn failed(message: String) -> ApiError {
    tracing::info!(error = %message, "conversion failed");
    Status::internal(message).into()
}

/// The one object a remote conversion of one object returns.
fn one(out: Result<Vec<Value>, String>) -> ApiResult<Value> {
    out.map_err(failed)?
        .pop()
        .ok_or_else(|| failed("the conversion returned no object".into()))
}

impl Store {
    /// The served form of stored bytes.
    pub async fn served(def: &ResourceDef, stored: &Bytes) -> ApiResult<Bytes> {
        match &def.converter {
            None => Ok(stored.clone()),
            Some(Conversion::Local(c)) => Ok(to_json(&c.to_served(parse(stored)?))),
            Some(Conversion::Remote(c)) => Ok(to_json(&one(c
                .to_served(vec![parse(stored)?], false)
                .await)?)),
        }
    }

    /// The served form of a stored object.
    pub async fn served_stored(def: &ResourceDef, stored: Value) -> ApiResult<Value> {
        match &def.converter {
            None => Ok(stored),
            Some(Conversion::Local(c)) => Ok(c.to_served(stored)),
            Some(Conversion::Remote(c)) => one(c.to_served(vec![stored], false).await),
        }
    }

    /// [`Self::served`], plus the `kcp.io/cluster` annotation taken from
    /// the key when the definition asks for it.
    pub async fn served_keyed(def: &ResourceDef, key: &[u8], stored: &Bytes) -> ApiResult<Bytes> {
        let served = Self::served(def, stored).await?;
        Self::annotated(def, key, served)
    }

    fn annotated(def: &ResourceDef, key: &[u8], served: Bytes) -> ApiResult<Bytes> {
        if !def.annotate_cluster {
            return Ok(served);
        }
        let Some(parts) = trellis_storage::keys::parse(key) else {
            return Ok(served);
        };
        let mut obj = parse(&served)?;
        meta::set_annotation(&mut obj, meta::CLUSTER_ANNOTATION, parts.cluster);
        Ok(to_json(&obj))
    }

    /// The served forms of stored records `(key, value)` (a list page):
    /// a remote conversion converts them all in one go.
    pub async fn served_page(
        def: &ResourceDef,
        records: Vec<(Bytes, Bytes)>,
    ) -> ApiResult<Vec<Bytes>> {
        let Some(Conversion::Remote(c)) = &def.converter else {
            let mut out = Vec::with_capacity(records.len());
            for (i, (key, value)) in records.into_iter().enumerate() {
                crate::fairness::pace(i).await;
                out.push(Self::served_keyed(def, &key, &value).await?);
            }
            return Ok(out);
        };
        let mut objs = Vec::with_capacity(records.len());
        for (_, value) in &records {
            objs.push(parse(value)?);
        }
        let converted = c.to_served(objs, true).await.map_err(failed)?;
        if converted.len() != records.len() {
            return Err(failed("the conversion lost objects".into()));
        }
        records
            .iter()
            .zip(converted)
            .map(|((key, _), obj)| Self::annotated(def, key, to_json(&obj)))
            .collect()
    }

    /// The working form of a stored object.
    pub async fn working(def: &ResourceDef, stored: Value) -> ApiResult<Value> {
        match &def.converter {
            Some(Conversion::Remote(c)) => one(c.to_served(vec![stored], false).await),
            _ => Ok(stored),
        }
    }

    /// The served form of an object in `def`'s working form.
    pub fn served_value(def: &ResourceDef, working: Value) -> Value {
        match &def.converter {
            Some(Conversion::Local(c)) => c.to_served(working),
            _ => working,
        }
    }

    /// The form to write of an object in `def`'s working form.
    pub async fn storage_form(def: &ResourceDef, working: Value) -> ApiResult<Value> {
        match &def.converter {
            Some(Conversion::Remote(c)) => c.to_stored(working).await.map_err(failed),
            _ => Ok(working),
        }
    }

    /// Whether writes of `def` convert before storing (the working form is
    /// not the stored form).
    pub fn converts_on_write(def: &ResourceDef) -> bool {
        matches!(def.converter, Some(Conversion::Remote(_)))
    }

    /// An object in `from`'s working form, served under `to` (another
    /// version of the same resource: admission's equivalent forms).
    pub async fn served_as(
        from: &ResourceDef,
        to: &ResourceDef,
        working: &Value,
    ) -> ApiResult<Value> {
        if std::ptr::eq(from, to) || from.api_version() == to.api_version() {
            return Ok(Self::served_value(to, working.clone()));
        }
        match (&from.converter, &to.converter) {
            // The working form is `from`'s version: `to`'s converter takes
            // any version to its own.
            (Some(Conversion::Remote(_)), Some(Conversion::Remote(c))) => {
                one(c.to_served(vec![working.clone()], false).await)
            }
            // `to` is the storage version.
            (Some(Conversion::Remote(c)), _) => c.to_stored(working.clone()).await.map_err(failed),
            _ => Ok(Self::served_value(to, working.clone())),
        }
    }

    /// An object served under `view` back in `def`'s working form (what a
    /// mutating webhook of an equivalent form returned).
    pub async fn working_from(
        def: &ResourceDef,
        view: &ResourceDef,
        served: Value,
    ) -> ApiResult<Value> {
        match (&def.converter, &view.converter) {
            (Some(Conversion::Remote(c)), _) => {
                if def.api_version() == view.api_version() {
                    Ok(served)
                } else {
                    one(c.to_served(vec![served], false).await)
                }
            }
            (_, Some(Conversion::Local(c))) => Ok(c.to_stored(served)),
            (_, Some(Conversion::Remote(c))) => c.to_stored(served).await.map_err(failed),
            (_, None) => Ok(served),
        }
    }
}
