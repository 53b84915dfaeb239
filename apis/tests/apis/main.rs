//! Integration tests of the API crate (one test binary).

mod fuzz_corpus;
mod proto_roundtrip;
mod proto_support;
mod proto_wire;
