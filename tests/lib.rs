//! Holds only the workspace integration tests in `tests/api`.
