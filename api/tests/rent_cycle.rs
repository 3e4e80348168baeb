//! The API over real HTTP on a real PostgreSQL: rent cycle, allocation, callbacks, auth,
//! validation, idempotency.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn whole_rent_cycle_ends_in_a_statement_with_the_balance() {
    let app = TestApp::spawn().await;
    let (_u, tenant, lease) = rental(&app, "landlord-a", "A-101", 25_000).await;

    let (s, g) = app
        .post(
            "landlord-a",
            "/v1/invoices/generate",
            json!({"period": "2026-02"}),
        )
        .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["created"], 1);
    assert_eq!(g["invoices"][0]["amount"], 25_000);
    assert_eq!(g["invoices"][0]["due_date"], "2026-02-05");
    // Idempotent: running it again creates nothing.
    let (_, g2) = app
        .post(
            "landlord-a",
            "/v1/invoices/generate",
            json!({"period": "2026-02"}),
        )
        .await;
    assert_eq!(g2["created"], 0);

    let token = app.callback_token("landlord-a").await;
    // Tenants type the account reference loosely: lower case, padded.
    let (s, v) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{token}/confirmation"),
            &c2b("SBK1A2B3C4", "10000.00", "  a-101 ").to_string(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));

    let (s, st) = app
        .get(
            "landlord-a",
            &format!("/v1/tenants/{tenant}/statement?as_of=2026-02-20"),
        )
        .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["invoiced"], 25_000);
    assert_eq!(st["paid"], 10_000);
    assert_eq!(st["balance"], 15_000);
    let l = &st["leases"][0];
    assert_eq!(l["lease_id"], lease.as_str());
    assert_eq!(l["arrears"]["overdue"], 15_000);
    assert_eq!(l["arrears"]["days_overdue"], 15);
    let entries = l["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["reference"], "mpesa_c2b SBK1A2B3C4");
    assert_eq!(entries[1]["balance"], 15_000);

    let (s, a) = app
        .get(
            "landlord-a",
            &format!("/v1/leases/{lease}/arrears?as_of=2026-02-04"),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(a["arrears"]["overdue"], 0, "not yet due on the 4th");
    assert_eq!(a["arrears"]["outstanding"], 15_000);
}

#[tokio::test]
async fn twenty_concurrent_duplicate_confirmations_credit_once() {
    let app = TestApp::spawn().await;
    let (_u, _t, lease) = rental(&app, "landlord-a", "B-7", 30_000).await;
    app.post(
        "landlord-a",
        "/v1/invoices/generate",
        json!({"period": "2026-02"}),
    )
    .await;
    let token = app.callback_token("landlord-a").await;
    let path = format!("/v1/callbacks/c2b/{token}/confirmation");
    let body = c2b("SBK9DUP0001", "30000.00", "B-7").to_string();
    let reqs = (0..20).map(|_| app.post_raw(&path, &body));
    let results = futures::future::join_all(reqs).await;
    for (s, v) in results {
        assert_eq!(s, 200, "{v}");
        assert_eq!(v, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    }
    let db = app.db().await;
    assert_eq!(db.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        db.count("SELECT COALESCE(SUM(amount),0)::bigint FROM allocations")
            .await,
        30_000
    );
    let (_, list) = app
        .get("landlord-a", &format!("/v1/payments?lease_id={lease}"))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn partial_exact_and_over_payments_allocate_oldest_first_and_credit_carries_over() {
    let app = TestApp::spawn().await;
    let (_u, tenant, lease) = rental(&app, "landlord-a", "C-1", 10_000).await;
    for p in ["2026-01", "2026-02"] {
        app.post("landlord-a", "/v1/invoices/generate", json!({"period": p}))
            .await;
    }
    let pay = |key: &str, amount: i64| {
        let app = &app;
        let lease = lease.clone();
        let key = key.to_string();
        async move {
            let r = app
                .http
                .post(app.url("/v1/payments"))
                .bearer_auth(token("landlord-a"))
                .header("Idempotency-Key", key)
                .json(&json!({"lease_id": lease, "amount": amount, "method": "cash", "paid_at": "2026-02-10T10:00:00Z"}))
                .send()
                .await
                .unwrap();
            status_json(r).await
        }
    };
    let invoices = || async {
        let (_, v) = app
            .get("landlord-a", &format!("/v1/invoices?lease_id={lease}"))
            .await;
        let mut items = v["items"].as_array().unwrap().clone();
        items.sort_by_key(|i| i["period"].as_str().unwrap().to_string());
        items
            .iter()
            .map(|i| i["balance"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    // Partial: leaves a balance on the oldest invoice.
    let (s, v) = pay("k1", 4_000).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(invoices().await, vec![6_000, 10_000]);
    // Exact: settles January exactly.
    pay("k2", 6_000).await;
    assert_eq!(invoices().await, vec![0, 10_000]);
    // Over: settles February, 2,500 becomes credit.
    pay("k3", 12_500).await;
    assert_eq!(invoices().await, vec![0, 0]);
    let (_, st) = app
        .get("landlord-a", &format!("/v1/tenants/{tenant}/statement"))
        .await;
    assert_eq!(st["credit"], 2_500);
    assert_eq!(st["balance"], -2_500);
    // Credit is applied to the next invoice when it is generated.
    app.post(
        "landlord-a",
        "/v1/invoices/generate",
        json!({"period": "2026-03"}),
    )
    .await;
    assert_eq!(invoices().await, vec![0, 0, 7_500]);
    let (_, st) = app
        .get("landlord-a", &format!("/v1/tenants/{tenant}/statement"))
        .await;
    assert_eq!(st["credit"], 0);
    assert_eq!(st["balance"], 7_500);
}

#[tokio::test]
async fn manual_payment_idempotency_key_replays_or_rejects() {
    let app = TestApp::spawn().await;
    let (_u, _t, lease) = rental(&app, "landlord-a", "D-1", 10_000).await;
    let send = |key: &str, amount: i64| {
        let req = app
            .http
            .post(app.url("/v1/payments"))
            .bearer_auth(token("landlord-a"))
            .header("Idempotency-Key", key)
            .json(&json!({"lease_id": lease, "amount": amount, "method": "bank", "reference": "EQ-123"}));
        async move { status_json(req.send().await.unwrap()).await }
    };
    let (s1, v1) = send("pay-1", 5_000).await;
    assert_eq!(s1, 201, "{v1}");
    let (s2, v2) = send("pay-1", 5_000).await;
    assert_eq!(s2, 201);
    assert_eq!(v1, v2, "same key + same body → the original response");
    let (s3, v3) = send("pay-1", 6_000).await;
    assert_eq!(s3, 422, "{v3}");
    assert_eq!(v3["invalid-params"][0]["name"], "Idempotency-Key");
    let db = app.db().await;
    assert_eq!(db.count("SELECT count(*) FROM payments").await, 1);
    // Missing key → 400 naming the header.
    let r = app
        .http
        .post(app.url("/v1/payments"))
        .bearer_auth(token("landlord-a"))
        .json(&json!({"lease_id": lease, "amount": 1, "method": "cash"}))
        .send()
        .await
        .unwrap();
    let (s, v) = status_json(r).await;
    assert_eq!(s, 400);
    assert_eq!(v["invalid-params"][0]["name"], "Idempotency-Key");
}

#[tokio::test]
async fn unmatched_payment_goes_to_suspense_and_can_be_matched() {
    let app = TestApp::spawn().await;
    let (_u, _t, lease) = rental(&app, "landlord-a", "E-12", 8_000).await;
    app.post(
        "landlord-a",
        "/v1/invoices/generate",
        json!({"period": "2026-02"}),
    )
    .await;
    let token = app.callback_token("landlord-a").await;
    // Validation: an unknown account reference is rejected, a known one accepted.
    let (_, v) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{token}/validation"),
            &c2b("X1", "8000.00", "E12").to_string(),
        )
        .await;
    assert_eq!(
        v,
        json!({"ResultCode": "C2B00012", "ResultDesc": "Rejected"})
    );
    let (_, v) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{token}/validation"),
            &c2b("X1", "8000.00", "e-12").to_string(),
        )
        .await;
    assert_eq!(v, json!({"ResultCode": "0", "ResultDesc": "Accepted"}));

    // A mistyped reference still arrives (validation is optional at Safaricom's side).
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{token}/confirmation"),
            &c2b("SBKSUSP001", "8000.00", "E12").to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let (_, susp) = app.get("landlord-a", "/v1/payments?status=unmatched").await;
    let items = susp["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["bill_ref"], "E12");
    let pid = items[0]["id"].as_str().unwrap().to_string();

    let (s, m) = app
        .post(
            "landlord-a",
            &format!("/v1/payments/{pid}/match"),
            json!({"lease_id": lease}),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["status"], "credited");
    assert_eq!(m["allocated"], 8_000);
    let (_, susp) = app.get("landlord-a", "/v1/payments?status=unmatched").await;
    assert!(susp["items"].as_array().unwrap().is_empty());
    // Matching twice is a conflict.
    let (s, _) = app
        .post(
            "landlord-a",
            &format!("/v1/payments/{pid}/match"),
            json!({"lease_id": lease}),
        )
        .await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn stk_failures_are_recorded_never_credited_and_success_credits_once() {
    let app = TestApp::spawn().await;
    let (_u, _t, lease) = rental(&app, "landlord-a", "F-3", 5_000).await;
    app.post(
        "landlord-a",
        "/v1/invoices/generate",
        json!({"period": "2026-02"}),
    )
    .await;
    let token = app.callback_token("landlord-a").await;
    for (id, amount) in [("ws_CO_1", 5_000), ("ws_CO_2", 5_000)] {
        let (s, v) = app
            .post(
                "landlord-a",
                "/v1/stk-requests",
                json!({"checkout_request_id": id, "lease_id": lease, "amount": amount}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let failed = json!({"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_1",
        "ResultCode": 1032, "ResultDesc": "Request cancelled by user"}}});
    let (s, v) = app
        .post_raw(&format!("/v1/callbacks/stk/{token}"), &failed.to_string())
        .await;
    assert_eq!(
        (s, v),
        (200, json!({"ResultCode": 0, "ResultDesc": "Accepted"}))
    );
    let (_, r) = app.get("landlord-a", "/v1/stk-requests/ws_CO_1").await;
    assert_eq!(r["result_code"], 1032);
    assert!(r["payment_id"].is_null());
    let db = app.db().await;
    assert_eq!(db.count("SELECT count(*) FROM payments").await, 0);

    // Items in an unusual order, Balance without a value: read by name.
    let ok = json!({"Body": {"stkCallback": {
    "MerchantRequestID": "29115-34620561-2", "CheckoutRequestID": "ws_CO_2",
    "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
    "CallbackMetadata": {"Item": [
        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
        {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": 20260206102115u64},
        {"Name": "PhoneNumber", "Value": 254708374149u64},
        {"Name": "Amount", "Value": 5000.00}
    ]}}}});
    for _ in 0..3 {
        let (s, _) = app
            .post_raw(&format!("/v1/callbacks/stk/{token}"), &ok.to_string())
            .await;
        assert_eq!(s, 200);
    }
    assert_eq!(
        db.count("SELECT count(*) FROM payments WHERE method='mpesa_stk'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT COALESCE(SUM(amount),0)::bigint FROM allocations")
            .await,
        5_000
    );
}

#[tokio::test]
async fn another_landlords_tenant_is_not_found() {
    let app = TestApp::spawn().await;
    let (_u, tenant, lease) = rental(&app, "landlord-a", "G-1", 5_000).await;
    for path in [
        format!("/v1/tenants/{tenant}"),
        format!("/v1/tenants/{tenant}/statement"),
        format!("/v1/leases/{lease}"),
    ] {
        let (s, v) = app.get("landlord-b", &path).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    let (_, list) = app.get("landlord-b", "/v1/tenants").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    // Nor can B attach A's tenant to a lease.
    let (s, v) = app
        .post(
            "landlord-b",
            "/v1/leases",
            json!({"unit_id": lease, "tenant_id": tenant, "start_date": "2026-01-01"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "expired",
            sign(
                &json!({"sub": "x", "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id", "exp": now() - 3600}),
                false,
            ),
        ),
        (
            "wrong issuer",
            sign(
                &json!({"sub": "x", "iss": "https://evil.example/", "aud": CLIENT_ID, "token_use": "id", "exp": now() + 3600}),
                false,
            ),
        ),
        (
            "wrong key",
            sign(
                &json!({"sub": "x", "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id", "exp": now() + 3600}),
                true,
            ),
        ),
        (
            "wrong client",
            sign(
                &json!({"sub": "x", "iss": ISSUER, "aud": "other", "token_use": "id", "exp": now() + 3600}),
                false,
            ),
        ),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (why, tok) in cases {
        let r = app
            .http
            .get(app.url("/v1/properties"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{why}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let r = app
        .http
        .get(app.url("/v1/properties"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "no token");
    // Access tokens carry client_id instead of aud.
    let access = sign(
        &json!({"sub": "x", "iss": ISSUER, "client_id": CLIENT_ID, "token_use": "access", "exp": now() + 3600}),
        false,
    );
    let r = app
        .http
        .get(app.url("/v1/properties"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn bad_input_is_4xx_naming_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (u, _t, _l) = rental(&app, "landlord-a", "H-1", 5_000).await;
    let token = app.callback_token("landlord-a").await;
    let before = app.snapshot().await;
    let confirm = format!("/v1/callbacks/c2b/{token}/confirmation");

    // A confirmation that cannot be read is acknowledged (the money moved) and kept in
    // quarantine naming the field; no payment is recorded.
    let ack = json!({"ResultCode": 0, "ResultDesc": "Accepted"});
    let (s, v) = app
        .post_raw(&confirm, &c2b("SBKFRAC01", "5.50", "H-1").to_string())
        .await;
    assert_eq!((s, &v), (200, &ack));
    assert!(app
        .quarantine_reason("landlord-a")
        .await
        .starts_with("TransAmount: "));

    let (s, v) = app.post_raw(&confirm, "{\"TransID\": \"SBK\", ").await;
    assert_eq!((s, &v), (200, &ack));
    assert_eq!(
        app.quarantine_reason("landlord-a").await,
        "body: malformed JSON"
    );

    let mut bad_time = c2b("SBKTIME01", "5.00", "H-1");
    bad_time["TransTime"] = json!("2026-02-05");
    let (s, v) = app.post_raw(&confirm, &bad_time.to_string()).await;
    assert_eq!((s, &v), (200, &ack));
    assert!(app
        .quarantine_reason("landlord-a")
        .await
        .starts_with("TransTime: "));

    let (s, v) = app
        .post(
            "landlord-a",
            "/v1/tenants",
            json!({"name": "Otieno", "phone": "0812345678"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["invalid-params"][0]["name"], "phone");
    assert!(
        !v.to_string().contains("0812345678"),
        "error echoes the phone: {v}"
    );

    let (s, v) = app
        .post("landlord-a", "/v1/units", json!({"property_id": u, "label": "x", "monthly_rent": 100.5, "deposit": 0, "account_ref": "Z"}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["invalid-params"][0]["name"], "monthly_rent");

    let (s, v) = app
        .post(
            "landlord-a",
            "/v1/properties",
            json!({"name": "x", "county": "y", "address": "z", "colour": "blue"}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["invalid-params"][0]["name"], "colour");

    let (s, v) = app
        .post(
            "landlord-a",
            "/v1/invoices/generate",
            json!({"period": "2026-13"}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["invalid-params"][0]["name"], "period");

    assert_eq!(
        app.snapshot().await,
        before,
        "a failed request (or a quarantined callback) changed the money tables"
    );

    // Fields Daraja sends that we don't use (and new ones it may add) are accepted.
    let mut extra = c2b("SBKEXTRA01", "5.00", "H-1");
    extra["SomeNewDarajaField"] = json!("x");
    let (s, _) = app.post_raw(&confirm, &extra.to_string()).await;
    assert_eq!(s, 200);
    // Unknown callback token: 404, nothing recorded.
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{}/confirmation", "0".repeat(64)),
            &c2b("SBKX", "5.00", "H-1").to_string(),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        app.db().await.count("SELECT count(*) FROM payments").await,
        1
    );
}

#[tokio::test]
async fn callback_token_rotation_retires_the_old_token() {
    let app = TestApp::spawn().await;
    rental(&app, "landlord-a", "J-1", 5_000).await;
    let old = app.callback_token("landlord-a").await;
    let (s, v) = app
        .post(
            "landlord-a",
            "/v1/landlord/callback-token/rotate",
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let new = v["callback_token"].as_str().unwrap();
    assert_ne!(new, old);
    for bad in ["exe", "cmd", "sql", "query", "mpesa", "safaricom"] {
        assert!(!v["callback_paths"]["c2b_confirmation"]
            .as_str()
            .unwrap()
            .contains(bad));
    }
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{old}/confirmation"),
            &c2b("SBKOLD1", "5.00", "J-1").to_string(),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{new}/confirmation"),
            &c2b("SBKNEW1", "5.00", "J-1").to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = app
        .put(
            "landlord-a",
            "/v1/landlord/shortcode",
            json!({"shortcode": "600984"}),
        )
        .await;
    assert_eq!((s, v["shortcode"].as_str()), (200, Some("600984")));
    let (s, _) = app
        .put(
            "landlord-a",
            "/v1/landlord/shortcode",
            json!({"shortcode": "60-98"}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn callbacks_from_outside_the_allow_list_are_refused() {
    let db = fresh_db().await;
    let app = TestApp::spawn_on(
        &db,
        &[
            "--callback-allow",
            "196.201.214.0/24",
            "--trusted-proxies",
            "127.0.0.0/8",
        ],
    )
    .await;
    rental(&app, "landlord-a", "K-1", 5_000).await;
    let token = app.callback_token("landlord-a").await;
    let send = |xff: Option<&str>| {
        let mut r = app
            .http
            .post(app.url(&format!("/v1/callbacks/c2b/{token}/confirmation")))
            .header("content-type", "application/json")
            .body(
                c2b(
                    &format!("SBKIP{}", xff.map(|x| x.len()).unwrap_or(0)),
                    "5.00",
                    "K-1",
                )
                .to_string(),
            );
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(None).await, 403, "loopback itself is not Safaricom");
    assert_eq!(send(Some("203.0.113.9")).await, 403);
    assert_eq!(send(Some("196.201.214.200")).await, 200);
}
