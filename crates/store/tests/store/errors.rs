use flowcompile_store::{Store, StoreError};

use crate::util::TempDir;

#[track_caller]
fn check_refused(path: &std::path::Path) -> StoreError {
    let err = Store::open(path).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    err
}

#[test]
fn a_path_under_a_missing_directory_is_an_error_naming_it() {
    let dir = TempDir::new("missing-dir");
    let path = dir.path().join("no/such/dir/project.sqlite");
    let err = check_refused(&path);
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(!path.exists());
}

#[test]
fn a_path_under_proc_is_an_error_naming_it() {
    check_refused(std::path::Path::new("/proc/flowcompile-store.sqlite"));
    check_refused(std::path::Path::new(
        "/proc/self/flowcompile/project.sqlite",
    ));
}

#[test]
fn a_directory_or_a_non_database_file_is_an_error_naming_it() {
    let dir = TempDir::new("not-a-db");
    check_refused(dir.path());
    let text = dir.path().join("notes.sqlite");
    std::fs::write(
        &text,
        "these are notes, not a database, and long enough to have a header",
    )
    .unwrap();
    let err = check_refused(&text);
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err:?}");
}
