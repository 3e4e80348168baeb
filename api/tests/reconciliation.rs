//! Reconciliation of an M-Pesa org portal statement against the API's payments.

mod common;

use common::*;
use serde_json::{json, Value};

/// A paybill statement as the M-PESA org portal exports it: preamble, header, rows; CRLF
/// line endings; amounts with thousands separators; the payer in `Other Party Info`.
fn statement(paid_in_4: &str) -> String {
    [
        "Account Holder:,600984 - Sunrise Rentals Ltd,,",
        "Short Code:,600984",
        "Account:,Utility Account",
        "Time Period:,From 01-02-2026 00:00:00 To 07-02-2026 23:59:59",
        "Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.",
        "SBR0000001,2026-02-03 10:00:00,2026-02-03 09:59:58,Pay Bill Online,Completed,\"5,000.00\",,\"105,000.00\",true,Pay Bill Online,254799887766 - MUTUA KIOKO,,RC-1",
        "SBR0000002,2026-02-04 10:00:00,2026-02-04 09:59:58,Pay Bill Online,Completed,\"3,500.00\",,\"108,500.00\",true,Pay Bill Online,254799887766 - MUTUA KIOKO,,RC-1",
        &format!("SBR0000004,2026-02-05 11:15:00,2026-02-05 11:14:50,Pay Bill Online,Completed,\"{paid_in_4}\",,\"112,500.00\",true,Pay Bill Online,254799887766 - MUTUA KIOKO,,rc-1 "),
        "SBR0000005,2026-02-05 12:00:00,2026-02-05 11:59:50,Pay Bill Online,Completed,\"1,200.00\",,\"113,700.00\",true,Pay Bill Online,254711223344 - JANE WAMBUI,,NOPE",
        "SBR0000006,2026-02-06 09:00:00,2026-02-06 09:00:00,Business Pay Bill Charge,Completed,,-500.00,\"113,200.00\",true,Pay Bill Charge,,,",
        "SBR0000007,2026-02-06 10:00:00,2026-02-06 10:00:00,Pay Bill Online,Failed,900.00,,\"113,200.00\",true,Pay Bill Online,254711223344 - JANE WAMBUI,,RC-1",
        "SBR0000008,2026-02-07 18:00:00,2026-02-07 18:00:00,Withdrawal Charge,Completed,,-22.50,\"113,177.50\",true,Withdrawal Charge,,,",
    ]
    .join("\r\n")
        + "\r\n"
}

fn confirmation(receipt: &str, amount: &str, at: &str) -> Value {
    let mut c = c2b(receipt, amount, "RC-1");
    c["TransTime"] = json!(at);
    c
}

fn receipts(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["receipt"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn finds_missing_extra_and_mismatched_payments_and_applies_once() {
    let app = TestApp::spawn().await;
    let (_u, tenant, lease) = rental(&app, "landlord-a", "RC-1", 20_000).await;
    app.post(
        "landlord-a",
        "/v1/invoices/generate",
        json!({"period": "2026-02"}),
    )
    .await;
    let token = app.callback_token("landlord-a").await;
    for (r, amount, at) in [
        ("SBR0000001", "5000.00", "20260203100000"), // on the statement, same amount
        ("SBR0000002", "3000.00", "20260204100000"), // on the statement as 3,500
        ("SBR0000003", "2000.00", "20260206100000"), // not on the statement
        ("SBR0000009", "1000.00", "20260301100000"), // after the statement's range
    ] {
        let (s, _) = app
            .post_raw(
                &format!("/v1/callbacks/c2b/{token}/confirmation"),
                &confirmation(r, amount, at).to_string(),
            )
            .await;
        assert_eq!(s, 200);
    }
    let file = statement("4,000.00");
    let before = app.snapshot().await;

    // Report only.
    let (s, v) = app
        .post_body(
            "landlord-a",
            "/v1/reconciliations",
            "text/csv",
            file.clone(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["statement"],
        json!({"rows": 7, "receipts": 4, "paid_in": 13_700,
               "from": "2026-02-03T07:00:00Z", "to": "2026-02-07T15:00:00Z"})
    );
    assert_eq!(v["apply"], false);
    assert_eq!(
        receipts(&v, "missing_from_api"),
        ["SBR0000004", "SBR0000005"]
    );
    assert_eq!(v["missing_from_api"][0]["amount"], 4_000);
    assert_eq!(v["missing_from_api"][0]["line"], 8);
    assert_eq!(v["missing_from_api"][0]["account_ref"], "rc-1");
    assert!(v["missing_from_api"][0]["payment_id"].is_null());
    assert_eq!(receipts(&v, "missing_from_statement"), ["SBR0000003"]);
    assert_eq!(v["missing_from_statement"][0]["amount"], 2_000);
    assert_eq!(
        v["amount_mismatches"],
        json!([{"line": 7, "receipt": "SBR0000002",
                "payment_id": v["amount_mismatches"][0]["payment_id"],
                "statement_amount": 3_500, "api_amount": 3_000}])
    );
    assert_eq!(v["recorded"], 0);
    assert_eq!(
        app.snapshot().await,
        before,
        "a report-only run changed data"
    );

    // Apply, twice at once: each missing receipt is recorded exactly once.
    let (a, b) = tokio::join!(
        app.post_body(
            "landlord-a",
            "/v1/reconciliations?apply=true",
            "text/csv",
            file.clone()
        ),
        app.post_body(
            "landlord-a",
            "/v1/reconciliations?apply=true",
            "text/csv",
            file.clone()
        ),
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    assert_eq!(
        a.1["recorded"].as_u64().unwrap() + b.1["recorded"].as_u64().unwrap(),
        2
    );
    let db = app.db().await;
    assert_eq!(
        db.count("SELECT count(*) FROM payments WHERE receipt IN ('SBR0000004', 'SBR0000005')")
            .await,
        2
    );
    // Matched by account number like a C2B confirmation: SBR0000004 credits the lease and
    // is allocated; SBR0000005 (unknown account) waits in suspense.
    let (_, pays) = app
        .get("landlord-a", &format!("/v1/payments?lease_id={lease}"))
        .await;
    let p4 = pays["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["receipt"] == "SBR0000004")
        .unwrap()
        .clone();
    assert_eq!(
        (
            &p4["status"],
            &p4["method"],
            &p4["amount"],
            &p4["allocated"],
            &p4["paid_at"]
        ),
        (
            &json!("credited"),
            &json!("mpesa_c2b"),
            &json!(4_000),
            &json!(4_000),
            &json!("2026-02-05T08:15:00Z")
        )
    );
    let (_, susp) = app.get("landlord-a", "/v1/payments?status=unmatched").await;
    assert_eq!(susp["items"][0]["receipt"], "SBR0000005");
    assert_eq!(susp["items"][0]["bill_ref"], "NOPE");
    let (_, st) = app
        .get(
            "landlord-a",
            &format!("/v1/tenants/{tenant}/statement?as_of=2026-02-28"),
        )
        .await;
    // 20 000 invoiced; paid 5 000 + 3 000 + 2 000 + 4 000 (recovered) + 1 000 (March).
    assert_eq!(st["invoiced"], 20_000);
    assert_eq!(st["paid"], 15_000);

    // Re-running changes nothing new.
    let after = app.snapshot().await;
    let (s, v) = app
        .post_body(
            "landlord-a",
            "/v1/reconciliations?apply=true",
            "text/csv",
            file.clone(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["recorded"], 0);
    assert_eq!(v["missing_from_api"], json!([]));
    assert_eq!(receipts(&v, "missing_from_statement"), ["SBR0000003"]);
    assert_eq!(v["amount_mismatches"].as_array().unwrap().len(), 1);
    assert_eq!(app.snapshot().await, after);

    // The payer's number and name never reach a response or the logs.
    let logs = app.logs_containing(&["statement reconciled"]).await;
    for secret in ["254799887766", "MUTUA", "254711223344", "WAMBUI"] {
        assert!(!logs.contains(secret), "log leaks {secret}");
        assert!(!v.to_string().contains(secret), "response leaks {secret}");
    }
}

#[tokio::test]
async fn a_malformed_statement_is_422_naming_line_and_column_and_records_nothing() {
    let app = TestApp::spawn().await;
    rental(&app, "landlord-a", "RC-1", 20_000).await;
    let before = app.snapshot().await;

    // A fraction of a shilling on line 8 (Paid In is column 6).
    let (s, v) = app
        .post_body(
            "landlord-a",
            "/v1/reconciliations?apply=true",
            "text/csv",
            statement("4,000.50"),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["invalid-params"][0]["name"], "line 8, column 6 (Paid In)");
    assert!(
        v["detail"].as_str().unwrap().contains("line 8, column 6"),
        "{v}"
    );
    assert!(!v.to_string().contains("4,000.50"), "echoes the value: {v}");

    // A date that is not one, on line 9.
    let bad = statement("4,000.00").replace("2026-02-05 12:00:00", "5th Feb");
    let (s, v) = app
        .post_body(
            "landlord-a",
            "/v1/reconciliations?apply=true",
            "text/csv",
            bad,
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        v["invalid-params"][0]["name"],
        "line 9, column 2 (Completion Time)"
    );
    // No header row at all.
    let (s, v) = app
        .post_body(
            "landlord-a",
            "/v1/reconciliations?apply=true",
            "text/csv",
            "hello,world\r\n1,2\r\n",
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["invalid-params"][0]["name"], "line 1");
    // Not UTF-8.
    let mut bytes = statement("4,000.00").into_bytes();
    bytes.extend_from_slice(
        b"SBR0000010,2026-02-07 19:00:00,,\xff\xfe,Completed,1.00,,,,,,,RC-1\r\n",
    );
    let (s, v) = app
        .post_body(
            "landlord-a",
            "/v1/reconciliations?apply=true",
            "text/csv",
            bytes,
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["invalid-params"][0]["name"], "line 13");
    // JSON is not a statement.
    let (s, v) = app
        .post("landlord-a", "/v1/reconciliations", json!({"rows": []}))
        .await;
    assert_eq!(
        (s, v["invalid-params"][0]["name"].as_str()),
        (400, Some("Content-Type"))
    );

    assert_eq!(
        app.snapshot().await,
        before,
        "a failed reconciliation changed data"
    );
}

#[tokio::test]
async fn a_statement_larger_than_json_bodies_is_accepted() {
    let app = TestApp::spawn().await;
    rental(&app, "landlord-a", "RC-1", 20_000).await;
    let mut file = String::from(
        "Receipt No.,Completion Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Other Party Info,A/C No.\n",
    );
    for i in 0..3_000 {
        file.push_str(&format!(
            "SBL{i:07},2026-02-{:02} 10:00:00,Pay Bill Online from a payer with a long name,Completed,\"1,000.00\",,\"{i},000.00\",2547******00 - PAYER NAME,RC-1\n",
            1 + i % 28
        ));
    }
    assert!(file.len() > 256 * 1024, "{}", file.len());
    let (s, v) = app
        .post_body(
            "landlord-a",
            "/v1/reconciliations",
            "text/csv; charset=utf-8",
            file,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["statement"]["receipts"], 3_000);
    assert_eq!(v["missing_from_api"].as_array().unwrap().len(), 3_000);
}
