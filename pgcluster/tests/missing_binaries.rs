//! Without PostgreSQL binaries the errors say how to install them. Its own test binary
//! (process) because it sets PMCTL_PG_BINDIR.

use pgcluster::{PgBin, PgError, TestCluster};

#[test]
fn empty_bindir_gives_the_install_message() {
    let empty = tempfile::tempdir().unwrap();
    std::env::set_var(pgcluster::BINDIR_ENV, empty.path());

    let err = PgBin::locate().unwrap_err();
    assert!(matches!(err, PgError::BinariesNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("apt-get install postgresql"), "{msg}");
    assert!(msg.contains("PMCTL_PG_BINDIR"), "{msg}");
    assert!(msg.contains(&empty.path().display().to_string()), "{msg}");

    assert!(matches!(
        TestCluster::start(),
        Err(PgError::BinariesNotFound { .. })
    ));
    let panic = std::panic::catch_unwind(|| {
        TestCluster::shared();
    })
    .unwrap_err();
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("apt-get install postgresql"), "{text}");

    assert!(matches!(
        PgBin::from_bindir(empty.path()),
        Err(PgError::BinariesNotFound { .. })
    ));
}
