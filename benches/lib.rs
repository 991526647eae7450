//! Home of the criterion benchmarks; see the `[[bench]]` targets in Cargo.toml.
