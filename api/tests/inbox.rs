//! The durable callback inbox (issue 13): every acknowledged confirmation is stored and
//! allocated exactly once (read back); an unreadable callback is quarantined, listed and
//! replayable, never lost; a repeated receipt with another amount or account, and an STK
//! push paying another amount than registered, are listed anomalies, never credited; with
//! deferred allocation the statement shows a payment pending until it is allocated.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn ack() -> Value {
    json!({"ResultCode": 0, "ResultDesc": "Accepted"})
}

async fn inbox(app: &TestApp, me: &str, status: &str) -> Vec<Value> {
    let (s, v) = app
        .get(me, &format!("/v1/callback-inbox?status={status}&limit=200"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn anomalies(app: &TestApp, me: &str) -> Vec<Value> {
    let (s, v) = app.get(me, "/v1/payment-anomalies").await;
    assert_eq!(s, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_acknowledged_confirmation_is_stored_and_allocated_exactly_once() {
    // 120 callbacks at once: let them all wait for a slot (admission control is tested
    // in `admission.rs`).
    let db_url = fresh_db().await;
    let app = TestApp::spawn_on(
        &db_url,
        &["--max-queue", "1000", "--queue-timeout-ms", "30000"],
    )
    .await;
    let me = "landlord-a";
    let mut leases = Vec::new();
    for i in 0..5 {
        leases.push(rental(&app, me, &format!("Q-{i}"), 1_000).await);
    }
    let (s, _) = app
        .post(me, "/v1/invoices/generate", json!({"period": "2026-02"}))
        .await;
    assert_eq!(s, 200);
    let cb = app.callback_token(me).await;
    let path = format!("/v1/callbacks/c2b/{cb}/confirmation");
    // 40 receipts over 5 leases, each delivered three times at once.
    let sends = (0..40).flat_map(|i| {
        let body = c2b(&format!("SBKX{i:04}"), "300.00", &format!("q-{}", i % 5)).to_string();
        let (app, path) = (&app, &path);
        (0..3).map(move |_| {
            let body = body.clone();
            async move { app.post_raw(path, &body).await }
        })
    });
    let answers = futures::future::join_all(sends).await;
    for (s, v) in &answers {
        assert_eq!((*s, v), (200, &ack()));
    }
    let db = app.db().await;
    assert_eq!(
        db.count("SELECT count(*) FROM payments WHERE method='mpesa_c2b'")
            .await,
        40
    );
    assert_eq!(
        db.count("SELECT count(DISTINCT receipt) FROM payments")
            .await,
        40
    );
    // Every payment allocated at most its amount; each lease's 1 000 invoice settled by
    // its first four payments (4 × 300 ≥ 1 000), the rest is credit.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM payments p WHERE (SELECT COALESCE(SUM(amount),0) FROM allocations a WHERE a.payment_id=p.id) > p.amount"
        )
        .await,
        0
    );
    assert_eq!(
        db.count("SELECT COALESCE(SUM(amount),0)::bigint FROM allocations")
            .await,
        5 * 1_000
    );
    // Identical re-deliveries are one stored row each; nothing is pending.
    assert_eq!(
        db.count("SELECT count(*) FROM callback_inbox").await,
        40,
        "identical payloads are stored once"
    );
    assert_eq!(inbox(&app, me, "processed").await.len(), 40);
    assert_eq!(inbox(&app, me, "pending").await.len(), 0);
    // Processed callbacks no longer hold the payer's name.
    assert_eq!(
        db.count("SELECT count(*) FROM callback_inbox WHERE body IS NOT NULL")
            .await,
        0
    );
    let (_, t, _) = &leases[0];
    let (_, st) = app
        .get(me, &format!("/v1/tenants/{t}/statement?as_of=2026-02-28"))
        .await;
    assert_eq!(st["paid"], 8 * 300, "{st}");
    assert_eq!(st["leases"][0]["pending_amount"], 0);
}

#[tokio::test]
async fn unreadable_callbacks_are_quarantined_listed_and_replayable() {
    let app = TestApp::spawn().await;
    let me = "landlord-a";
    let (_u, tenant, _lease) = rental(&app, me, "H-9", 5_000).await;
    let cb = app.callback_token(me).await;
    let path = format!("/v1/callbacks/c2b/{cb}/confirmation");
    let before = app.snapshot().await;
    let mut fraction = c2b("SBKQ1", "5.50", "H-9");
    fraction["Extra"] = json!(1);
    for body in ["{not json", "[]", "null", &fraction.to_string()] {
        let (s, v) = app.post_raw(&path, body).await;
        assert_eq!((s, &v), (200, &ack()), "{body}");
    }
    // Not JSON at all, with another content type: stored all the same.
    let r = app
        .http
        .post(app.url(&path))
        .header("content-type", "text/plain")
        .body(c2b("SBKQ2", "100.00", "H-9").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.snapshot().await, before, "nothing was credited");
    let q = inbox(&app, me, "quarantined").await;
    assert_eq!(q.len(), 5, "{q:?}");
    let reasons: Vec<&str> = q.iter().map(|e| e["error"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"body: malformed JSON"), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.starts_with("TransAmount: ")),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"Content-Type: must be application/json"),
        "{reasons:?}"
    );
    // The key is read leniently: the fraction's receipt is known.
    assert!(q.iter().any(|e| e["key"] == "SBKQ1"), "{q:?}");
    // No reason quotes a value from the payload.
    assert!(!format!("{q:?}").contains("5.50"));

    // The text/plain one is a valid confirmation: once the cause is understood, replaying
    // it reads the stored payload again — it is credited, once.
    let plain = q.iter().find(|e| e["key"] == "SBKQ2").unwrap();
    let id = plain["id"].as_str().unwrap();
    let (s, v) = app
        .post(me, &format!("/v1/callback-inbox/{id}/replay"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "processed", "{v}");
    let pid = v["payment_id"].as_str().unwrap().to_string();
    let (s, p) = app.get(me, &format!("/v1/payments/{pid}")).await;
    assert_eq!(
        (s, &p["receipt"], &p["status"]),
        (200, &json!("SBKQ2"), &json!("credited"))
    );
    let (s, v) = app
        .post(me, &format!("/v1/callback-inbox/{id}/replay"), json!({}))
        .await;
    assert_eq!(s, 409, "a processed callback is not replayed: {v}");
    // A payload still unreadable stays quarantined, with its reason.
    let frac = q.iter().find(|e| e["key"] == "SBKQ1").unwrap();
    let (s, v) = app
        .post(
            me,
            &format!("/v1/callback-inbox/{}/replay", frac["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!((s, &v["status"]), (200, &json!("quarantined")), "{v}");
    // Another landlord sees none of it.
    assert_eq!(inbox(&app, "landlord-b", "quarantined").await.len(), 0);
    let (s, _) = app
        .post(
            "landlord-b",
            &format!("/v1/callback-inbox/{id}/replay"),
            json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let (_, st) = app
        .get(me, &format!("/v1/tenants/{tenant}/statement"))
        .await;
    assert_eq!(st["paid"], 100);
}

#[tokio::test]
async fn a_repeated_receipt_with_another_amount_or_account_is_an_anomaly_never_credited() {
    let app = TestApp::spawn().await;
    let me = "landlord-a";
    rental(&app, me, "A-1", 5_000).await;
    rental(&app, me, "B-2", 5_000).await;
    let cb = app.callback_token(me).await;
    let path = format!("/v1/callbacks/c2b/{cb}/confirmation");
    let send = |body: Value| {
        let (app, path) = (&app, &path);
        async move { app.post_raw(path, &body.to_string()).await }
    };
    assert_eq!(send(c2b("SBKDUP1", "5000.00", "A-1")).await.0, 200);
    // The same payment, reported again with other bytes (a later TransTime format, a
    // balance): a duplicate.
    let mut again = c2b("SBKDUP1", "5000", " a-1 ");
    again["OrgAccountBalance"] = json!("1.00");
    assert_eq!(send(again).await, (200, ack()));
    // Same receipt, another amount; then another account.
    assert_eq!(send(c2b("SBKDUP1", "6000.00", "A-1")).await, (200, ack()));
    assert_eq!(send(c2b("SBKDUP1", "5000.00", "B-2")).await, (200, ack()));
    let db = app.db().await;
    assert_eq!(db.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        db.count("SELECT COALESCE(SUM(amount),0)::bigint FROM payments")
            .await,
        5_000
    );
    assert_eq!(inbox(&app, me, "duplicate").await.len(), 1);
    assert_eq!(inbox(&app, me, "anomaly").await.len(), 2);
    let a = anomalies(&app, me).await;
    assert_eq!(a.len(), 2, "{a:?}");
    for x in &a {
        assert_eq!(x["kind"], "receipt_conflict");
        assert_eq!(x["receipt"], "SBKDUP1");
        assert_eq!(x["expected_amount"], 5_000);
        assert_eq!(x["expected_account"], "A-1");
    }
    assert!(a
        .iter()
        .any(|x| x["received_amount"] == 6_000 && x["received_account"] == "A-1"));
    assert!(a
        .iter()
        .any(|x| x["received_amount"] == 5_000 && x["received_account"] == "B-2"));
    // Another landlord's paybill reporting the same receipt: an anomaly of theirs that
    // reveals nothing of the first landlord's payment.
    rental(&app, "landlord-b", "A-1", 5_000).await;
    let cb_b = app.callback_token("landlord-b").await;
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb_b}/confirmation"),
            &c2b("SBKDUP1", "5000.00", "A-1").to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let b = anomalies(&app, "landlord-b").await;
    assert_eq!(b.len(), 1);
    assert!(b[0]["payment_id"].is_null() && b[0]["expected_amount"].is_null());
    assert_eq!(db.count("SELECT count(*) FROM payments").await, 1);
}

#[tokio::test]
async fn an_stk_push_paying_another_amount_is_held_in_suspense_and_listed() {
    let app = TestApp::spawn().await;
    let me = "landlord-a";
    let (_u, tenant, lease) = rental(&app, me, "S-1", 5_000).await;
    let cb = app.callback_token(me).await;
    let stk = |id: &str, amount: i64, receipt: &str| {
        json!({"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": id,
            "ResultCode": 0, "ResultDesc": "ok", "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": amount},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "TransactionDate", "Value": 20260206102115u64}]}}}})
        .to_string()
    };
    for (id, amount) in [("ws_CO_ok", 5_000), ("ws_CO_bad", 5_000)] {
        let (s, _) = app
            .post(
                me,
                "/v1/stk-requests",
                json!({"checkout_request_id": id, "lease_id": lease, "amount": amount}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let path = format!("/v1/callbacks/stk/{cb}");
    assert_eq!(
        app.post_raw(&path, &stk("ws_CO_ok", 5_000, "STKOK1")).await,
        (200, ack())
    );
    assert_eq!(
        app.post_raw(&path, &stk("ws_CO_bad", 50, "STKBAD1")).await,
        (200, ack())
    );
    // A duplicate of the good one changes nothing.
    assert_eq!(
        app.post_raw(&path, &stk("ws_CO_ok", 5_000, "STKOK1")).await,
        (200, ack())
    );
    let (_, st) = app
        .get(me, &format!("/v1/tenants/{tenant}/statement"))
        .await;
    assert_eq!(
        st["paid"], 5_000,
        "only the registered amount is credited: {st}"
    );
    let (_, suspense) = app.get(me, "/v1/payments?status=unmatched").await;
    let held = &suspense["items"].as_array().unwrap();
    assert_eq!(held.len(), 1, "{suspense}");
    assert_eq!(
        (&held[0]["amount"], &held[0]["receipt"]),
        (&json!(50), &json!("STKBAD1"))
    );
    let a = anomalies(&app, me).await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["kind"], "stk_amount_mismatch");
    assert_eq!(a[0]["checkout_request_id"], "ws_CO_bad");
    assert_eq!(
        (&a[0]["expected_amount"], &a[0]["received_amount"]),
        (&json!(5_000), &json!(50))
    );
    assert_eq!(a[0]["payment_id"], held[0]["id"]);
    // The landlord decides: matching it credits the lease.
    let (s, _) = app
        .post(
            me,
            &format!("/v1/payments/{}/match", held[0]["id"].as_str().unwrap()),
            json!({"lease_id": lease}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, st) = app
        .get(me, &format!("/v1/tenants/{tenant}/statement"))
        .await;
    assert_eq!(st["paid"], 5_050);
}

#[tokio::test]
async fn deferred_allocation_shows_a_payment_pending_until_it_is_allocated() {
    let db_url = fresh_db().await;
    let app = TestApp::spawn_on(&db_url, &["--allocation", "deferred"]).await;
    let me = "landlord-a";
    let (_u, tenant, lease) = rental(&app, me, "D-1", 5_000).await;
    let cb = app.callback_token(me).await;
    // Hold the lease's row lock: the worker stores the payment but cannot allocate it.
    let db = app.db().await;
    let mut holder = db.0.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM leases WHERE id = $1::uuid FOR UPDATE")
        .bind(&lease)
        .execute(&mut *holder)
        .await
        .unwrap();
    let (s, v) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/confirmation"),
            &c2b("SBKDEF1", "2500.00", "D-1").to_string(),
        )
        .await;
    assert_eq!((s, v), (200, ack()), "acknowledged once stored");
    let statement = || async {
        let (s, st) = app
            .get(me, &format!("/v1/tenants/{tenant}/statement"))
            .await;
        assert_eq!(s, 200, "{st}");
        st
    };
    let st = statement().await;
    let l = &st["leases"][0];
    assert_eq!(l["pending_amount"], 2_500, "{st}");
    assert_eq!(l["pending"][0]["key"], "SBKDEF1");
    assert_eq!(st["paid"], 0);
    holder.rollback().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = statement().await;
        if st["paid"] == 2_500 {
            assert_eq!(st["leases"][0]["pending_amount"], 0, "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "never allocated: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(inbox(&app, me, "processed").await.len(), 1);
}

/// Callbacks left pending (stored, then the process died before allocating) are processed
/// by the worker's sweep in one batch: the batch's payments are recorded with one
/// statement, and a receipt repeated within the batch is recorded once — for the first
/// callback — while the repeats are a duplicate and an anomaly, as one by one.
#[tokio::test]
async fn a_batch_records_a_receipt_repeated_within_it_once() {
    let db_url = fresh_db().await;
    let app = TestApp::spawn_on(&db_url, &["--allocation", "deferred"]).await;
    let me = "landlord-a";
    let (_u, tenant, _lease) = rental(&app, me, "C-1", 5_000).await;
    let first = c2b("SBKBAT1", "2000.00", "C-1");
    let mut same = c2b("SBKBAT1", "2000", " c-1 ");
    same["OrgAccountBalance"] = json!("9.00");
    let bodies = [
        first,
        same,
        c2b("SBKBAT1", "3000.00", "C-1"),
        c2b("SBKBAT2", "1500.00", "C-1"),
    ]
    .map(|b| b.to_string());
    let db = app.db().await;
    // One statement: the sweep sees all four at once or none.
    sqlx::query(
        "INSERT INTO callback_inbox (id, landlord_id, kind, key, digest, body, status)
         SELECT gen_random_uuid(), $1, 'c2b_confirmation', k, sha256(convert_to(b, 'UTF8')),
                convert_to(b, 'UTF8'), 'pending'
         FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(k, b, n) ORDER BY n",
    )
    .bind(me)
    .bind(["SBKBAT1", "SBKBAT1", "SBKBAT1", "SBKBAT2"])
    .bind(&bodies)
    .execute(&db.0)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while db
        .count("SELECT count(*) FROM callback_inbox WHERE status = 'pending'")
        .await
        > 0
    {
        assert!(Instant::now() < deadline, "the sweep never processed them");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        db.count("SELECT count(*) FROM payments WHERE receipt = 'SBKBAT1'")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT amount FROM payments WHERE receipt = 'SBKBAT1'")
            .await,
        2_000,
        "the first callback of the batch is the one recorded"
    );
    assert_eq!(inbox(&app, me, "processed").await.len(), 2);
    assert_eq!(inbox(&app, me, "duplicate").await.len(), 1);
    let a = anomalies(&app, me).await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (&a[0]["expected_amount"], &a[0]["received_amount"]),
        (&json!(2_000), &json!(3_000))
    );
    let (s, st) = app
        .get(me, &format!("/v1/tenants/{tenant}/statement"))
        .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["paid"], 3_500, "{st}");
}
