//! Integration tests of the artifact crate: the shipped schema, prototype fixtures and round trips.

mod roundtrip;
mod schema;
mod v2_fixtures;
