//! tagstream
