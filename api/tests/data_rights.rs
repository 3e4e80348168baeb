//! Tenant data rights (Kenya Data Protection Act 2019): export everything held about a
//! tenant; erase the personal fields while keeping the money records; audit log.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn export_then_erase_keeps_the_money_and_logs_no_personal_data() {
    let app = TestApp::spawn().await;
    let name = "Nyambura Wairimu";
    let phone = "0722334455";
    let national_id = "27182818";
    let (_, p) = app
        .post(
            "landlord-a",
            "/v1/properties",
            json!({"name": "Jamhuri Flats", "county": "Nakuru", "address": "Kenyatta Ave"}),
        )
        .await;
    let (_, u) = app
        .post(
            "landlord-a",
            "/v1/units",
            json!({"property_id": p["id"], "label": "B4", "monthly_rent": 9_000, "deposit": 9_000, "account_ref": "JF-B4"}),
        )
        .await;
    let (s, t) = app
        .post(
            "landlord-a",
            "/v1/tenants",
            json!({"name": name, "phone": phone, "national_id": national_id}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let tenant = t["id"].as_str().unwrap().to_string();
    let (_, l) = app
        .post(
            "landlord-a",
            "/v1/leases",
            json!({"unit_id": u["id"], "tenant_id": tenant, "start_date": "2026-01-01", "due_day": 5}),
        )
        .await;
    let lease = l["id"].as_str().unwrap().to_string();
    for period in ["2026-01", "2026-02"] {
        app.post(
            "landlord-a",
            "/v1/invoices/generate",
            json!({"period": period}),
        )
        .await;
    }
    let cb = app.callback_token("landlord-a").await;
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/confirmation"),
            &c2b("SBKDPA0001", "12000.00", "JF-B4").to_string(),
        )
        .await;
    assert_eq!(s, 200);

    // Export: everything about the tenant.
    let (s, e) = app
        .get("landlord-a", &format!("/v1/tenants/{tenant}/export"))
        .await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["tenant"]["name"], name);
    assert_eq!(e["tenant"]["phone"], "254722334455");
    assert_eq!(e["tenant"]["national_id"], national_id);
    assert_eq!(e["leases"][0]["id"], lease.as_str());
    assert_eq!(e["invoices"].as_array().unwrap().len(), 2);
    assert_eq!(e["payments"][0]["receipt"], "SBKDPA0001");
    assert_eq!(e["statement"]["invoiced"], 18_000);
    assert_eq!(e["statement"]["paid"], 12_000);
    assert_eq!(e["audit_log"], json!([]));
    let (_, statement_before) = app
        .get(
            "landlord-a",
            &format!("/v1/tenants/{tenant}/statement?as_of=2026-02-28"),
        )
        .await;
    // Another landlord can neither export nor erase.
    for (path, post) in [
        (format!("/v1/tenants/{tenant}/export"), false),
        (format!("/v1/tenants/{tenant}/erase"), true),
    ] {
        let (s, _) = if post {
            app.post("landlord-b", &path, json!({})).await
        } else {
            app.get("landlord-b", &path).await
        };
        assert_eq!(s, 404, "{path}");
    }

    // Erase.
    let (s, er) = app
        .post(
            "landlord-a",
            &format!("/v1/tenants/{tenant}/erase"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{er}");
    assert_eq!(er["already_erased"], false);
    assert!(er["tenant"]["erased_at"].is_string());
    for k in ["name", "phone", "national_id"] {
        assert!(er["tenant"][k].is_null(), "{k}: {er}");
    }
    assert_eq!(er["audit"]["action"], "tenant.erase");
    assert_eq!(er["audit"]["actor"], "landlord-a");
    assert_eq!(er["audit"]["subject_id"], tenant.as_str());
    assert_eq!(
        er["audit"]["fields"],
        json!(["name", "phone", "national_id"])
    );

    // GET and export show no personal data any more; the money is unchanged.
    let (_, g) = app
        .get("landlord-a", &format!("/v1/tenants/{tenant}"))
        .await;
    let (_, e2) = app
        .get("landlord-a", &format!("/v1/tenants/{tenant}/export"))
        .await;
    let (_, list) = app.get("landlord-a", "/v1/tenants").await;
    for body in [g.to_string(), e2.to_string(), list.to_string()] {
        for secret in [name, "Nyambura", "254722334455", "722334455", national_id] {
            assert!(!body.contains(secret), "still holds `{secret}`: {body}");
        }
    }
    assert_eq!(e2["payments"][0]["amount"], 12_000);
    assert_eq!(e2["audit_log"][0]["id"], er["audit"]["id"]);
    let (_, statement_after) = app
        .get(
            "landlord-a",
            &format!("/v1/tenants/{tenant}/statement?as_of=2026-02-28"),
        )
        .await;
    assert_eq!(
        statement_after, statement_before,
        "erasure changed the money"
    );
    let (_, rr) = app
        .get("landlord-a", "/v1/reports/rent-roll?period=2026-02")
        .await;
    assert!(rr["rows"][0]["tenant"].is_null());
    assert_eq!(rr["rows"][0]["invoiced"], 9_000);

    // The database holds none of it either.
    let db = app.db().await;
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM tenants WHERE id = '{tenant}' AND name IS NULL AND phone IS NULL
             AND national_id IS NULL AND erased_at IS NOT NULL"
        ))
        .await,
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM audit_log").await, 1);
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM audit_log WHERE subject_id = '{tenant}' AND action = 'tenant.erase'
             AND actor = 'landlord-a'"
        ))
        .await,
        1
    );

    // Erasing again is idempotent: 200, same audit entry, nothing new.
    let snapshot = app.snapshot().await;
    let (s, er2) = app
        .post(
            "landlord-a",
            &format!("/v1/tenants/{tenant}/erase"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(er2["already_erased"], true);
    assert_eq!(er2["audit"]["id"], er["audit"]["id"]);
    assert_eq!(er2["tenant"]["erased_at"], er["tenant"]["erased_at"]);
    assert_eq!(app.snapshot().await, snapshot);
    let (_, log) = app
        .get("landlord-a", &format!("/v1/audit-log?subject_id={tenant}"))
        .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    // An erased tenant gets no new lease.
    let (s, v) = app
        .post(
            "landlord-a",
            "/v1/leases",
            json!({"unit_id": u["id"], "tenant_id": tenant, "start_date": "2027-01-01"}),
        )
        .await;
    assert_eq!(
        (s, v["invalid-params"][0]["name"].as_str()),
        (422, Some("tenant_id"))
    );

    // Nothing personal reached the logs, in any form.
    let logs = app
        .logs_containing(&["tenant personal data erased", "/v1/tenants/{id}/export"])
        .await;
    for secret in [
        name,
        "Nyambura",
        phone,
        "254722334455",
        "722334455",
        national_id,
    ] {
        assert!(!logs.contains(secret), "log leaks `{secret}`:\n{logs}");
    }
}
