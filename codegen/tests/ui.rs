//! Compile-time behaviour of `#[tool]`: what it refuses, with spans and fixes, and
//! that a correct tool compiles under `deny(missing_docs)` and registers itself.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
