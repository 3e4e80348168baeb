//! Admission control: past the in-flight limit (and its short queue) a request is answered
//! at once with 503 + `Retry-After` — Daraja-shaped on callback paths — instead of waiting
//! for a pool connection; `/ready` and `/health` are never queued or shed.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn past_capacity_requests_are_shed_at_once_and_readiness_is_not() {
    let db_url = fresh_db().await;
    let app = TestApp::spawn_on(&db_url, &["--max-in-flight", "1", "--max-queue", "0"]).await;
    let me = "landlord-a";
    let (_u, _t, lease) = rental(&app, me, "C-1", 5_000).await;
    let cb = app.callback_token(me).await;
    // Occupy the only slot: a payment waits on the lease's row lock held here.
    let db = app.db().await;
    let mut holder = db.0.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM leases WHERE id = $1::uuid FOR UPDATE")
        .bind(&lease)
        .execute(&mut *holder)
        .await
        .unwrap();
    let stuck = {
        let (http, url, tok) = (app.http.clone(), app.url("/v1/payments"), token(me));
        let lease = lease.clone();
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(tok)
                .header("Idempotency-Key", "held-1")
                .json(&json!({"lease_id": lease, "amount": 100, "method": "cash"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| format!("{e:?}"))
        })
    };
    // Wait until it holds the slot (it waits on the lock): the next request is shed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db
        .count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        .await
        == 0
    {
        assert!(
            !stuck.is_finished() && Instant::now() < deadline,
            "the payment never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shed = loop {
        let t = Instant::now();
        let r = app
            .http
            .get(app.url("/v1/properties"))
            .bearer_auth(token(me))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            break (t.elapsed(), r);
        }
        if stuck.is_finished() {
            panic!("the held request ended: {:?}", stuck.await);
        }
        assert!(Instant::now() < deadline, "never shed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        shed.0 < Duration::from_millis(100),
        "shed slowly: {:?}",
        shed.0
    );
    assert_eq!(shed.1.headers()["retry-after"], "1");
    // The mark the front door counts apart from failures.
    assert_eq!(shed.1.headers()["x-pm-shed"], "1");
    let (_, v) = status_json(shed.1).await;
    assert_eq!(v["type"], "about:blank#overloaded", "{v}");
    // A callback is shed Daraja-style (nothing stored: M-Pesa may retry).
    let (s, v) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{cb}/confirmation"),
            &c2b("SBKSHED1", "100.00", "C-1").to_string(),
        )
        .await;
    assert_eq!((s, &v["ResultCode"]), (503, &json!(1)), "{v}");
    // Readiness answers from outside the queue, and reports the writer.
    let t = Instant::now();
    let r = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ready: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ready["db_role"], "writer");
    assert!(t.elapsed() < Duration::from_secs(1));
    // Release: the held request completes, and new requests are admitted again.
    holder.rollback().await.unwrap();
    assert_eq!(stuck.await.unwrap(), Ok(201));
    let (s, _) = app.get(me, "/v1/properties").await;
    assert_eq!(s, 200);
    assert_eq!(
        db.count("SELECT count(*) FROM callback_inbox").await,
        0,
        "a shed callback stores nothing"
    );
}
