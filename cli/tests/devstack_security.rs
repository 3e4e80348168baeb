//! Issue 12, defect 7: the dev stack's PostgreSQL refuses connections without the stack's
//! credentials, and the generated password stays in its two 0600 password files — in no
//! log, no other state file, no command line and no output.

mod common;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            files_under(&p, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn connect_error(url: &str) -> String {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(url).await {
        Ok(_) => panic!("connected without the password: {url}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_needs_the_stack_password_which_never_leaks() {
    let mut st = TestStack::new(27100, "");
    st.up();
    let password = pmctl::devstack::Stack::open(&st.state)
        .unwrap()
        .db_password()
        .expect("a generated password");
    assert!(password.len() >= 32, "weak password");

    // With the stack's credentials: works. Without, or with a wrong password: refused.
    for r in ["east", "west"] {
        let ok: i32 = sql_one(&st.db_url(r), "SELECT 1").await.unwrap();
        assert_eq!(ok, 1);
        let port = st.pg_port(r);
        let e = connect_error(&format!("postgres://postgres@127.0.0.1:{port}/pm")).await;
        assert!(e.contains("password"), "{r}: {e}");
        let e = connect_error(&format!("postgres://postgres:guess@127.0.0.1:{port}/pm")).await;
        assert!(e.contains("password authentication failed"), "{r}: {e}");
    }
    // Another local user gets no session, not even a replication one (the issue's
    // `runuser -u nobody -- psql -U postgres`).
    if nix::unistd::geteuid().is_root() {
        let psql = pgcluster::PgBin::locate().unwrap().bindir().join("psql");
        let port = st.pg_port("east");
        for conninfo in [
            format!("host=127.0.0.1 port={port} user=postgres dbname=pm"),
            format!("host=127.0.0.1 port={port} user=postgres dbname=pm replication=database"),
        ] {
            let out = std::process::Command::new("runuser")
                .args(["-u", "nobody", "--"])
                .arg(&psql)
                .args(["-w", "-X", "-c", "IDENTIFY_SYSTEM", &conninfo])
                .current_dir("/")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{conninfo}: {stderr}");
            assert!(stderr.contains("password"), "{conninfo}: {stderr}");
        }
    }

    // The password files: 0600, owned by the user PostgreSQL runs as.
    let pg_uid = if nix::unistd::geteuid().is_root() {
        nix::unistd::User::from_name("postgres")
            .unwrap()
            .unwrap()
            .uid
            .as_raw()
    } else {
        nix::unistd::geteuid().as_raw()
    };
    for r in ["east", "west"] {
        let f = st.state.join(r).join("pg.pgpass");
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", f.display());
        assert_eq!(m.uid(), pg_uid, "{}", f.display());
    }

    // Some traffic and a command that prints, so the logs have something to say.
    seed_lease(&st, "landlord-1").await;
    let outputs = [
        st.must(&["dev", "status", "-o", "json"]),
        st.must(&["status", "-o", "json"]),
        st.must(&["dev", "up"]),
    ];
    for o in &outputs {
        assert!(
            !o.stdout.contains(&password) && !o.stderr.contains(&password),
            "{o:?}"
        );
    }
    // Errors too: with east's database stopped, status reports it without the URL.
    let bin = pgcluster::PgBin::locate().unwrap();
    pgcluster::Cluster::open(&bin, &st.state.join("east").join("pg"))
        .unwrap()
        .stop(
            pgcluster::StopMode::Fast,
            std::time::Duration::from_secs(30),
        )
        .unwrap();
    for args in [&["dev", "status"][..], &["status", "-o", "json"]] {
        let o = st.run(args);
        assert_ne!(o.code, 0, "{o:?}");
        assert!(
            !o.stdout.contains(&password) && !o.stderr.contains(&password),
            "{o:?}"
        );
    }
    st.must(&["dev", "up"]);

    // No process's command line carries it (the APIs get DATABASE_URL in their environment).
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            assert!(
                !contains(&cmdline, password.as_bytes()),
                "password on the command line of pid {:?}: {}",
                e.file_name(),
                String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .replace(&password, "***")
            );
        }
    }
    // No file of the state dir but the two password files holds it: no log, not
    // stack.json, not the data directories (PostgreSQL keeps only a SCRAM verifier).
    let mut files = Vec::new();
    files_under(&st.state, &mut files);
    assert!(files.iter().any(|f| f.ends_with("logs/api-east.log")));
    assert!(files.iter().any(|f| f.ends_with("east/pg.log")));
    for f in files {
        if f.extension().is_some_and(|e| e == "pgpass") {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !contains(&bytes, password.as_bytes()),
            "the password is in {}",
            f.display()
        );
    }
}
