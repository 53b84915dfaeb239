//! Custom resources: APIs defined at run time rather than compiled in.
//!
//! A CustomResourceDefinition (and, later, an APIBinding to a provider's
//! APIResourceSchema) describes an API as data. [`api::CustomApi`] is that
//! description in one shape whatever its source; [`defs`] turns it into the
//! [`ResourceDef`](crate::registry::ResourceDef)s and OpenAPI definitions a
//! cluster serves, with [`strategy::CustomStrategy`] plugging the schema's
//! pruning, defaulting, validation and CEL rules into the one generic store.
//! Nothing here is specific to where the API came from, so both sources
//! share every line of it.

pub mod api;
pub mod checks;
pub mod columns;
pub mod conversion;
pub mod defs;
pub mod scale;
pub mod strategy;
pub mod version;
