//! `/openapi.json`: valid OpenAPI 3.1, and every route of the router documented (and every
//! documented operation routed). The route table `pm_api::routes::table` is the one list
//! the router is built from, so a route cannot exist outside it; the checker itself is unit
//! tested to fail on an undocumented route (`openapi_check::tests`).

mod common;
#[path = "common/openapi_check.rs"]
mod openapi_check;

use common::*;
use openapi_check::{documented, structural_errors, undocumented, unrouted};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

async fn served_document(app: &TestApp) -> Value {
    let r = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    r.json().await.unwrap()
}

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy(&app.db_url)
        .unwrap();
    let state = pm_api::AppState::new(pool, Default::default(), None);
    let table = pm_api::routes::table(&state);
    let pairs: Vec<_> = table.iter().map(|r| (&r.method, r.path)).collect();
    assert_eq!(
        undocumented(pairs.iter().copied(), &doc),
        Vec::<String>::new()
    );
    assert_eq!(unrouted(pairs.iter().copied(), &doc), Vec::<String>::new());
    assert!(table.len() >= 47, "{} routes", table.len());

    // The running server serves every documented operation: none falls through to the
    // router's fallback (404 "route not found") or gets 405.
    let ops = documented(&doc);
    assert_eq!(ops.len(), table.len());
    for (method, path) in ops {
        let url = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{token}", &"0".repeat(64));
        let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let r = app
            .http
            .request(m, app.url(&url))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !body.contains("route not found"),
            "{method} {path} is documented but not routed: {status} {body}"
        );
    }
    // And an unknown route is the fallback, so the probe above can tell.
    let (s, v) = app.get("landlord-a", "/v1/nothing-here").await;
    assert_eq!(s, 404);
    assert!(v.to_string().contains("route not found"));
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(structural_errors(&doc), Vec::<String>::new());
    // Every operation has responses; authenticated ones name the bearer scheme (the root
    // requirement), public ones opt out.
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(
        doc["paths"]["/v1/callbacks/stk/{token}"]["post"]["security"],
        serde_json::json!([{}])
    );
    let ops = documented(&doc);
    for (m, p) in &ops {
        assert!(
            doc["paths"][p][m]["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{m} {p}"
        );
    }

    // The reference validator (openapi-spec-validator from PyPI, OpenAPI 3.1 schema), from a
    // cached virtualenv like scripts/tools-venv's.
    let venv = validator_venv();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let out = Command::new(venv.join("bin/openapi-spec-validator"))
        .args(["--schema", "3.1.0"])
        .arg(file.path())
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator rejects the document:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
}

/// Creates once (under a lock) and returns a virtualenv with `openapi-spec-validator`, in
/// `$PMCTL_TOOLS_DIR` (default `<repo>/.tools`), like `scripts/tools-venv`.
fn validator_venv() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("PMCTL_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".tools"));
    let venv = dir.join("openapi-venv");
    let script = r#"
set -euo pipefail
mkdir -p "$DIR"
exec 9>"$DIR/openapi.lock"
flock 9
if [ ! -x "$VENV/bin/openapi-spec-validator" ]; then
  py=${PYTHON:-python3}
  command -v "$py" >/dev/null || { echo "python3 not found: install Python 3 (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
  echo "installing openapi-spec-validator into $VENV (first run only)" >&2
  rm -rf "$VENV"
  "$py" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'openapi-spec-validator>=0.7,<0.8' >&2
fi
"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("DIR", &dir)
        .env("VENV", &venv)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "could not set up openapi-spec-validator:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    venv
}
