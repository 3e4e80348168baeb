//! The edge: NUL and other control characters, JSON arrays where objects belong, and
//! callback answers — each refused with a 400 naming the field (never a 500), changing
//! nothing (a confirmation or STK callback is stored and quarantined instead, naming the
//! field, and acknowledged); callbacks check the token before the body; Daraja's `ResultCode` has one type
//! per callback; STK item values may be numbers or strings.

mod common;

use common::*;
use serde_json::{json, Value};

fn field(v: &Value) -> &str {
    v["invalid-params"][0]["name"].as_str().unwrap_or("")
}

#[tokio::test]
async fn nul_and_control_characters_are_400s_naming_the_field() {
    let app = TestApp::spawn().await;
    let me = "landlord-a";
    let (unit, _tenant, lease) = rental(&app, me, "N-1", 5_000).await;
    let (_, props) = app.get(me, "/v1/properties").await;
    let property = props["items"][0]["id"].as_str().unwrap().to_string();
    let (_, m) = app
        .post(
            me,
            "/v1/maintenance-requests",
            json!({"unit_id": unit, "title": "Door"}),
        )
        .await;
    let mid = m["id"].as_str().unwrap().to_string();
    let cb = app.callback_token(me).await;
    let before = app.snapshot().await;

    // One case per kind of field: short text, paragraph, phone, national ID, account
    // reference, money string, enum, period, date, reference, checkout id, PATCH text.
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "post",
            "/v1/properties".into(),
            json!({"name": "A\u{0}", "county": "Nairobi", "address": "x"}),
            "name",
        ),
        (
            "post",
            "/v1/properties".into(),
            json!({"name": "A", "county": "Nai\u{7}robi", "address": "x"}),
            "county",
        ),
        (
            "post",
            "/v1/tenants".into(),
            json!({"name": "W", "phone": "0712\u{0}345678"}),
            "phone",
        ),
        (
            "post",
            "/v1/tenants".into(),
            json!({"name": "W", "phone": "0712345678", "national_id": "123\u{0}45"}),
            "national_id",
        ),
        (
            "post",
            "/v1/units".into(),
            json!({"property_id": property, "label": "L", "monthly_rent": 1, "deposit": 0, "account_ref": "Z\u{0}"}),
            "account_ref",
        ),
        (
            "post",
            "/v1/units".into(),
            json!({"property_id": property, "label": "L", "monthly_rent": "1\u{0}", "deposit": 0, "account_ref": "Z"}),
            "monthly_rent",
        ),
        (
            "post",
            "/v1/expenses".into(),
            json!({"property_id": property, "category": "repairs\u{0}", "amount": 1, "spent_on": "2026-02-01"}),
            "category",
        ),
        (
            "post",
            "/v1/expenses".into(),
            json!({"property_id": property, "category": "repairs", "amount": 1, "spent_on": "2026-02-01\u{0}"}),
            "spent_on",
        ),
        (
            "post",
            "/v1/expenses".into(),
            json!({"property_id": property, "category": "repairs", "amount": 1, "spent_on": "2026-02-01", "note": "n\u{1b}[31m"}),
            "note",
        ),
        (
            "post",
            "/v1/invoices/generate".into(),
            json!({"period": "2026-02\u{0}"}),
            "period",
        ),
        (
            "post",
            "/v1/stk-requests".into(),
            json!({"checkout_request_id": "ws\u{0}", "lease_id": lease, "amount": 1}),
            "checkout_request_id",
        ),
        (
            "post",
            "/v1/maintenance-requests".into(),
            json!({"unit_id": unit, "title": "T", "description": "line\u{0}"}),
            "description",
        ),
        (
            "patch",
            format!("/v1/maintenance-requests/{mid}"),
            json!({"assignee": "Juma\u{0}"}),
            "assignee",
        ),
        (
            "post",
            "/v1/payments/00000000-0000-0000-0000-000000000000/match".into(),
            json!({"lease_id": lease, "kind": "rent\u{0}"}),
            "kind",
        ),
    ];
    for (method, path, body, name) in cases {
        let (s, v) = match method {
            "patch" => app.patch(me, &path, body.clone()).await,
            _ => app.post(me, &path, body.clone()).await,
        };
        assert_eq!((s, field(&v)), (400, name), "{path} {body}: {v}");
        assert!(!v.to_string().contains("\\u0000"), "echoed: {v}");
    }
    // A manual payment (header first, then the body).
    let r = app
        .http
        .post(app.url("/v1/payments"))
        .bearer_auth(token(me))
        .header("Idempotency-Key", "k-1")
        .json(&json!({"lease_id": lease, "amount": 1, "method": "cash", "reference": "R\u{0}"}))
        .send()
        .await
        .unwrap();
    let (s, v) = status_json(r).await;
    assert_eq!((s, field(&v)), (400, "reference"), "{v}");
    // A NUL in a path names no resource.
    let (s, _) = app.get(me, "/v1/stk-requests/ws%00").await;
    assert_eq!(s, 404);
    // Confirmations: acknowledged (stored) and quarantined, naming the field.
    let ack = json!({"ResultCode": 0, "ResultDesc": "Accepted"});
    let mut c = c2b("SBKNUL1", "5.00", "N-1");
    c["TransID"] = json!("SBK\u{0}1");
    let (s, v) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/confirmation"),
            &c.to_string(),
        )
        .await;
    assert_eq!((s, &v), (200, &ack));
    assert!(app.quarantine_reason(me).await.starts_with("TransID: "));
    let mut c = c2b("SBKNUL2", "5.00", "N-1");
    c["FirstName"] = json!("WAN\u{0}JIRU"); // a field we ignore is still not stored-unsafe
    let (s, v) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/confirmation"),
            &c.to_string(),
        )
        .await;
    assert_eq!((s, &v), (200, &ack));
    assert!(app.quarantine_reason(me).await.starts_with("FirstName: "));
    // Validation moves no money: still refused, Daraja-style, naming the field.
    let mut c = c2b("SBKNUL3", "5.00", "N-1");
    c["BillRefNumber"] = json!("N-1\u{0}");
    let (s, v) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/validation"),
            &c.to_string(),
        )
        .await;
    assert_eq!((s, field(&v)), (400, "BillRefNumber"), "{v}");
    assert_eq!(v["ResultCode"], "C2B00016");
    let stk = json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 1032,
        "ResultDesc": "Cancelled\u{0}"}}});
    let (s, v) = app
        .post_raw(&format!("/v1/callbacks/stk/{cb}"), &stk.to_string())
        .await;
    assert_eq!((s, &v), (200, &ack));
    assert!(app
        .quarantine_reason(me)
        .await
        .starts_with("Body.stkCallback.ResultDesc: "));
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused request changed the database"
    );
    assert!(!app.logs().contains("internal error"));
}

#[tokio::test]
async fn json_arrays_are_not_objects() {
    let app = TestApp::spawn().await;
    let me = "landlord-a";
    let cb = app.callback_token(me).await;
    let before = app.snapshot().await;
    for (path, body) in [
        (
            "/v1/properties",
            json!(["Arr Court", "Nairobi", "2 Road", null]),
        ),
        ("/v1/tenants", json!(["W", "0712345678", null])),
        ("/v1/invoices/generate", json!(["2026-02"])),
    ] {
        let (s, v) = app.post(me, path, body).await;
        assert_eq!((s, field(&v)), (400, "body"), "{path}: {v}");
        assert_eq!(v["invalid-params"][0]["reason"], "must be a JSON object");
    }
    let (s, v) = app
        .put(me, "/v1/landlord/shortcode", json!(["600984"]))
        .await;
    assert_eq!((s, field(&v)), (400, "body"), "{v}");
    // Nested objects too (a callback is stored, then quarantined naming the field).
    let (s, v) = app
        .post_raw(
            &format!("/v1/callbacks/stk/{cb}"),
            &json!({"Body": [["ws_CO_1", 0]]}).to_string(),
        )
        .await;
    assert_eq!((s, v["ResultCode"].clone()), (200, json!(0)), "{v}");
    assert!(app.quarantine_reason(me).await.starts_with("Body: "));
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn callbacks_check_the_token_before_the_body_and_answer_with_one_result_code_type() {
    let app = TestApp::spawn().await;
    let me = "landlord-a";
    rental(&app, me, "R-1", 5_000).await;
    let cb = app.callback_token(me).await;
    let wrong = "0".repeat(64);
    for path in [
        format!("/v1/callbacks/c2b/{wrong}/validation"),
        format!("/v1/callbacks/c2b/{wrong}/confirmation"),
        format!("/v1/callbacks/stk/{wrong}"),
    ] {
        let (s, v) = app.post_raw(&path, "{not json").await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    // Validation answers strings, always.
    let (_, ok) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/validation"),
            &c2b("X1", "5.00", "R-1").to_string(),
        )
        .await;
    let (_, no) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/validation"),
            &c2b("X1", "5.00", "NOPE").to_string(),
        )
        .await;
    let (_, bad) = app
        .post_raw(&format!("/v1/callbacks/c2b/{cb}/validation"), "[]")
        .await;
    for v in [&ok, &no, &bad] {
        assert!(v["ResultCode"].is_string(), "{v}");
    }
    assert_eq!(ok["ResultCode"], "0");
    assert_eq!(no["ResultCode"], "C2B00012");
    // Confirmation and STK answer numbers, always.
    let (_, ack) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/confirmation"),
            &c2b("SBKRC1", "5.00", "R-1").to_string(),
        )
        .await;
    let (_, bad) = app
        .post_raw(&format!("/v1/callbacks/c2b/{cb}/confirmation"), "{}")
        .await;
    assert_eq!(ack, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    // Unreadable: stored, quarantined, and acknowledged all the same.
    assert_eq!(bad, ack);
    assert!(app.quarantine_reason(me).await.starts_with("TransID: "));
    // The document says the same.
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = &doc["components"]["schemas"];
    assert_eq!(
        s["ValidationAnswer"]["properties"]["ResultCode"]["type"],
        "string"
    );
    assert_eq!(s["Ack"]["properties"]["ResultCode"]["type"], "integer");
}

#[tokio::test]
async fn stk_item_values_may_be_numbers_or_strings() {
    let app = TestApp::spawn().await;
    let me = "landlord-a";
    let (_u, _t, lease) = rental(&app, me, "S-1", 5_000).await;
    let cb = app.callback_token(me).await;
    for (i, (amount, date)) in [
        (json!(100.00), json!(20260206102115u64)),
        (json!("100.00"), json!("20260206102115")),
        (json!(100), json!(20260206102115u64)),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("ws_CO_val{i}");
        let (s, _) = app
            .post(
                me,
                "/v1/stk-requests",
                json!({"checkout_request_id": id, "lease_id": lease, "amount": 100}),
            )
            .await;
        assert_eq!(s, 201);
        let body = json!({"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": id,
            "ResultCode": 0, "ResultDesc": "ok", "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": amount},
                {"Name": "MpesaReceiptNumber", "Value": format!("NLJ7RT6{i}SV")},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": date},
                {"Name": "PhoneNumber", "Value": 254708374149u64}]}}}});
        let (s, v) = app
            .post_raw(&format!("/v1/callbacks/stk/{cb}"), &body.to_string())
            .await;
        assert_eq!(
            (s, &v),
            (200, &json!({"ResultCode": 0, "ResultDesc": "Accepted"})),
            "{i}"
        );
    }
    assert_eq!(
        app.db()
            .await
            .count("SELECT count(*) FROM payments WHERE method='mpesa_stk'")
            .await,
        3
    );
    // A value of another JSON type is refused, naming it.
    let body = json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_x", "ResultCode": 0,
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": {"v": 1}}]}}}});
    let (s, v) = app
        .post_raw(&format!("/v1/callbacks/stk/{cb}"), &body.to_string())
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(app
        .quarantine_reason(me)
        .await
        .starts_with("Body.stkCallback.CallbackMetadata.Item[0].Value: "));
}
