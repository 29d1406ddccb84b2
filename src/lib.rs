//! Umbrella package: holds the workspace-level `examples/`, `tests/` and `benches/`.
