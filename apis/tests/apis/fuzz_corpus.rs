//! The checked-in fuzz corpus of this crate's targets
//! (`tests/fuzz/corpus/<target>/`), replayed through
//! `trellis_apis::fuzzing` on threads with a tokio worker's 2 MiB stack, so
//! that every input that once crashed a parser keeps being tried.

#[test]
fn corpus_replays_without_failures() {
    let failures = trellis_apis::fuzzing::replay(trellis_apis::fuzzing::TARGETS);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
