//! Reading requests: path → what is addressed, query → options, headers →
//! representation, body → a JSON value within Kubernetes' limits.

pub mod body;
pub mod info;
pub mod media;
pub mod params;
pub mod path;
