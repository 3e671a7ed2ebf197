//! Integration tests of the store: migrations, resume, crash safety and file errors.

mod crash;
mod errors;
mod migrations;
mod resume;
mod util;
