//! Reports against a fixture month worked out by hand (February 2026, 28 days). Every
//! expected amount below is written out, not recomputed by the code under test.
//!
//! Amani Court (residential): A1 (L1, 20 000 due on the 5th, since Nov), A2 (L2 from
//! Feb 15, 15 000 due on the 15th), A3 (L3 Oct → Feb 10, 12 000 due on the 1st, deep in
//! arrears), A4 vacant. Baraka Plaza (commercial): S1 (L4 from Jan, 50 000 due on the 1st).

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;

const WHO: &str = "owner-a";

async fn create(app: &TestApp, path: &str, body: Value) -> String {
    let (s, v) = app.post(WHO, path, body).await;
    assert_eq!(s, 201, "{path}: {v}");
    v["id"].as_str().unwrap().to_string()
}

async fn pay(app: &TestApp, key: &str, lease: &str, amount: i64, kind: &str, at: &str) {
    let r = app
        .http
        .post(app.url("/v1/payments"))
        .bearer_auth(token(WHO))
        .header("Idempotency-Key", key)
        .json(
            &json!({"lease_id": lease, "amount": amount, "method": "bank",
                      "kind": kind, "paid_at": at, "reference": key}),
        )
        .send()
        .await
        .unwrap();
    let (s, v) = status_json(r).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["kind"], kind);
}

struct Fixture {
    l1: String,
    l2: String,
    l3: String,
    l4: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let amani = create(
        app,
        "/v1/properties",
        json!({"name": "Amani Court", "county": "Nairobi", "address": "Ngong Rd"}),
    )
    .await;
    let baraka = create(
        app,
        "/v1/properties",
        json!({"name": "Baraka Plaza", "county": "Nairobi", "address": "Moi Ave", "usage": "commercial"}),
    )
    .await;
    let unit = |p: &str, label: &str, rent: i64, deposit: i64, aref: &str| json!({"property_id": p, "label": label, "monthly_rent": rent, "deposit": deposit, "account_ref": aref});
    let a1 = create(
        app,
        "/v1/units",
        unit(&amani, "A1", 20_000, 20_000, "AM-A1"),
    )
    .await;
    let a2 = create(
        app,
        "/v1/units",
        unit(&amani, "A2", 15_000, 15_000, "AM-A2"),
    )
    .await;
    let a3 = create(
        app,
        "/v1/units",
        unit(&amani, "A3", 12_000, 12_000, "AM-A3"),
    )
    .await;
    create(
        app,
        "/v1/units",
        unit(&amani, "A4", 10_000, 10_000, "AM-A4"),
    )
    .await;
    let s1 = create(
        app,
        "/v1/units",
        unit(&baraka, "S1", 50_000, 100_000, "BP-S1"),
    )
    .await;
    let tenant = |name: &str, phone: &str| json!({"name": name, "phone": phone});
    let t1 = create(app, "/v1/tenants", tenant("Wanjiru Kamau", "0711000001")).await;
    let t2 = create(app, "/v1/tenants", tenant("Otieno Ochieng", "0711000002")).await;
    let t3 = create(app, "/v1/tenants", tenant("Achieng Atieno", "0711000003")).await;
    let t4 = create(app, "/v1/tenants", tenant("Kamau Traders", "0711000004")).await;
    let lease = |u: &str, t: &str, start: &str, end: Option<&str>, due: u32| json!({"unit_id": u, "tenant_id": t, "start_date": start, "end_date": end, "due_day": due});
    let l1 = create(app, "/v1/leases", lease(&a1, &t1, "2025-11-01", None, 5)).await;
    let l2 = create(app, "/v1/leases", lease(&a2, &t2, "2026-02-15", None, 15)).await;
    let l3 = create(
        app,
        "/v1/leases",
        lease(&a3, &t3, "2025-10-01", Some("2026-02-10"), 1),
    )
    .await;
    let l4 = create(app, "/v1/leases", lease(&s1, &t4, "2026-01-01", None, 1)).await;
    for p in ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02"] {
        let (s, v) = app
            .post(WHO, "/v1/invoices/generate", json!({"period": p}))
            .await;
        assert_eq!(s, 200, "{v}");
    }

    // L1: rent 20 000 + 20 000 + 10 000 + 15 010 (Feb 7); 3 000 on Feb 28 21:30 UTC, which is
    // March 1 in Nairobi (EAT): not February. Deposit 20 000 in October.
    pay(app, "l1-d", &l1, 20_000, "deposit", "2025-10-28T09:00:00Z").await;
    pay(app, "l1-1", &l1, 20_000, "rent", "2025-11-05T09:00:00Z").await;
    pay(app, "l1-2", &l1, 20_000, "rent", "2025-12-05T09:00:00Z").await;
    pay(app, "l1-3", &l1, 10_000, "rent", "2026-01-10T09:00:00Z").await;
    pay(app, "l1-4", &l1, 15_010, "rent", "2026-02-07T09:00:00Z").await;
    pay(app, "l1-5", &l1, 3_000, "rent", "2026-02-28T21:30:00Z").await;
    // L2: deposit 15 000 on Feb 14; rent 15 000 by M-Pesa (C2B) on Feb 15.
    pay(app, "l2-d", &l2, 15_000, "deposit", "2026-02-14T09:00:00Z").await;
    let token = app.callback_token(WHO).await;
    let mut c = c2b("SBKFEB0002", "15,000.00", "am-a2 ");
    c["TransAmount"] = json!("15000.00");
    c["TransTime"] = json!("20260215100000");
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{token}/confirmation"),
            &c.to_string(),
        )
        .await;
    assert_eq!(s, 200);
    // L3: rent 12 000 (Oct) + 6 000 (Nov), nothing since; deposit 8 000 of 12 000.
    pay(app, "l3-d", &l3, 8_000, "deposit", "2025-09-25T09:00:00Z").await;
    pay(app, "l3-1", &l3, 12_000, "rent", "2025-10-03T09:00:00Z").await;
    pay(app, "l3-2", &l3, 6_000, "rent", "2025-11-20T09:00:00Z").await;
    // L4: rent 50 000 (Jan 2) and 50 000 at Jan 31 22:00 UTC = Feb 1 01:00 EAT (February);
    // deposit 60 000 (Dec) + 40 000 (Feb 3); service charge 5 000 (other income, Feb 3).
    pay(app, "l4-d1", &l4, 60_000, "deposit", "2025-12-20T09:00:00Z").await;
    pay(app, "l4-1", &l4, 50_000, "rent", "2026-01-02T09:00:00Z").await;
    pay(app, "l4-2", &l4, 50_000, "rent", "2026-01-31T22:00:00Z").await;
    pay(app, "l4-d2", &l4, 40_000, "deposit", "2026-02-03T09:00:00Z").await;
    pay(app, "l4-o", &l4, 5_000, "other", "2026-02-03T09:00:00Z").await;
    // A mistyped account number: 7 000 waits in suspense.
    let mut c = c2b("SBKFEBSUSP", "7000.00", "ZZZ-9");
    c["TransTime"] = json!("20260210120000");
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{token}/confirmation"),
            &c.to_string(),
        )
        .await;
    assert_eq!(s, 200);

    // Expenses: February repairs 8 000 and security 6 000; a maintenance request resolved
    // on Feb 20 for 2 500; January and March expenses stay out of February.
    let expense = |p: &str, cat: &str, amount: i64, on: &str| json!({"property_id": p, "category": cat, "amount": amount, "spent_on": on, "note": "x"});
    create(
        app,
        "/v1/expenses",
        expense(&amani, "repairs", 8_000, "2026-02-12"),
    )
    .await;
    create(
        app,
        "/v1/expenses",
        expense(&baraka, "security", 6_000, "2026-02-01"),
    )
    .await;
    create(
        app,
        "/v1/expenses",
        expense(&amani, "utilities", 1_200, "2026-03-01"),
    )
    .await;
    create(
        app,
        "/v1/expenses",
        expense(&amani, "land_rates", 3_000, "2026-01-31"),
    )
    .await;
    let m = create(
        app,
        "/v1/maintenance-requests",
        json!({"unit_id": a1, "title": "Leaking tap"}),
    )
    .await;
    let (s, v) = app
        .patch(
            WHO,
            &format!("/v1/maintenance-requests/{m}"),
            json!({"status": "in_progress"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .patch(
            WHO,
            &format!("/v1/maintenance-requests/{m}"),
            json!({"status": "resolved", "cost": "2500.00", "resolved_on": "2026-02-20"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    Fixture { l1, l2, l3, l4 }
}

/// The CSV body as header → value maps, one per line.
fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

async fn csv_of(app: &TestApp, path: &str) -> Vec<HashMap<String, String>> {
    let (s, ct, body) = app.get_accept(WHO, path, "text/csv").await;
    assert_eq!(s, 200, "{body}");
    assert!(ct.starts_with("text/csv"), "{ct}");
    csv_rows(&body)
}

fn num(v: &str) -> i64 {
    v.parse().unwrap_or_else(|_| panic!("not an integer: {v}"))
}

#[tokio::test]
async fn reports_for_a_hand_computed_month() {
    let app = TestApp::spawn().await;
    let f = fixture(&app).await;

    // ---- rent roll ----------------------------------------------------------------------
    let (s, rr) = app.get(WHO, "/v1/reports/rent-roll?period=2026-02").await;
    assert_eq!(s, 200, "{rr}");
    let got: Vec<(String, String, Value, i64, i64, i64, i64)> = rr["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["property"].as_str().unwrap().to_string(),
                r["unit"].as_str().unwrap().to_string(),
                r["tenant"].clone(),
                r["rent"].as_i64().unwrap(),
                r["invoiced"].as_i64().unwrap(),
                r["paid"].as_i64().unwrap(),
                r["balance"].as_i64().unwrap(),
            )
        })
        .collect();
    let row = |p: &str, u: &str, t: Value, rent, inv, paid, bal| {
        (p.to_string(), u.to_string(), t, rent, inv, paid, bal)
    };
    assert_eq!(
        got,
        vec![
            row(
                "Amani Court",
                "A1",
                json!("Wanjiru Kamau"),
                20_000,
                20_000,
                15_010,
                14_990
            ),
            row(
                "Amani Court",
                "A2",
                json!("Otieno Ochieng"),
                15_000,
                15_000,
                15_000,
                0
            ),
            row(
                "Amani Court",
                "A3",
                json!("Achieng Atieno"),
                12_000,
                12_000,
                0,
                42_000
            ),
            row("Amani Court", "A4", Value::Null, 10_000, 0, 0, 0),
            row(
                "Baraka Plaza",
                "S1",
                json!("Kamau Traders"),
                50_000,
                50_000,
                50_000,
                0
            ),
        ]
    );
    assert_eq!(rr["rows"][0]["lease_id"], f.l1.as_str());
    assert_eq!(
        rr["totals"],
        json!({"units": 5, "invoiced": 97_000, "paid": 80_010, "balance": 56_990})
    );
    let csv = csv_of(&app, "/v1/reports/rent-roll?period=2026-02").await;
    assert_eq!(csv.len(), 5);
    for (c, j) in csv.iter().zip(rr["rows"].as_array().unwrap()) {
        assert_eq!(c["unit"], j["unit"].as_str().unwrap());
        assert_eq!(c["tenant"], j["tenant"].as_str().unwrap_or(""));
        for k in ["rent", "invoiced", "paid", "balance"] {
            assert_eq!(num(&c[k]), j[k].as_i64().unwrap(), "{k}");
        }
    }
    assert_eq!(num(&csv[2]["balance"]), 42_000);

    // ---- arrears aging, as of the period's last day --------------------------------------
    let (s, ar) = app.get(WHO, "/v1/reports/arrears?period=2026-02").await;
    assert_eq!(s, 200, "{ar}");
    assert_eq!(ar["as_of"], "2026-02-28");
    let rows = ar["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{ar}");
    // L1: 65 010 paid settles Nov, Dec, Jan and 5 010 of Feb (due Feb 5, 23 days).
    assert_eq!(rows[0]["lease_id"], f.l1.as_str());
    assert_eq!(
        [
            &rows[0]["d0_30"],
            &rows[0]["d31_60"],
            &rows[0]["d61_90"],
            &rows[0]["d90_plus"],
            &rows[0]["total"]
        ],
        [
            &json!(14_990),
            &json!(0),
            &json!(0),
            &json!(0),
            &json!(14_990)
        ]
    );
    // L3: 18 000 paid settles Oct and half of Nov (119 days), Dec 89, Jan 58, Feb 27 days.
    assert_eq!(rows[1]["lease_id"], f.l3.as_str());
    assert_eq!(
        [
            &rows[1]["d0_30"],
            &rows[1]["d31_60"],
            &rows[1]["d61_90"],
            &rows[1]["d90_plus"],
            &rows[1]["total"]
        ],
        [
            &json!(12_000),
            &json!(12_000),
            &json!(12_000),
            &json!(6_000),
            &json!(42_000)
        ]
    );
    assert_eq!(
        ar["totals"],
        json!({"leases": 2, "d0_30": 26_990, "d31_60": 12_000, "d61_90": 12_000,
               "d90_plus": 6_000, "total": 56_990})
    );
    // As of Feb 4: L1's Feb invoice is not due and its Feb 7 payment not made yet, so
    // January's 10 000 is 30 days overdue; L3's buckets shift by 24 days.
    let (_, ar4) = app
        .get(WHO, "/v1/reports/arrears?period=2026-02&as_of=2026-02-04")
        .await;
    assert_eq!(
        ar4["totals"],
        json!({"leases": 2, "d0_30": 22_000, "d31_60": 12_000, "d61_90": 12_000,
               "d90_plus": 6_000, "total": 52_000})
    );
    let csv = csv_of(&app, "/v1/reports/arrears?period=2026-02").await;
    assert_eq!(csv.len(), 2);
    for (c, j) in csv.iter().zip(rows) {
        assert_eq!(c["lease_id"], j["lease_id"].as_str().unwrap());
        for k in ["d0_30", "d31_60", "d61_90", "d90_plus", "total"] {
            assert_eq!(num(&c[k]), j[k].as_i64().unwrap(), "{k}");
        }
    }

    // ---- owner statement ----------------------------------------------------------------
    let (s, os) = app
        .get(WHO, "/v1/reports/owner-statement?period=2026-02")
        .await;
    assert_eq!(s, 200, "{os}");
    assert_eq!(os["rent_collected"], 80_010); // 15 010 + 15 000 + 50 000
    assert_eq!(os["other_income"], 5_000);
    assert_eq!(os["expenses"], 16_500); // 8 000 + 2 500 + 6 000
    assert_eq!(os["net"], 68_510);
    assert_eq!(os["deposits_received"], 55_000); // 15 000 + 40 000: not income
    assert_eq!(os["unmatched_receipts"], 7_000);
    assert_eq!(
        os["expenses_by_category"],
        json!([{"category": "maintenance", "amount": 2_500},
               {"category": "repairs", "amount": 8_000},
               {"category": "security", "amount": 6_000}])
    );
    let props = os["properties"].as_array().unwrap();
    assert_eq!(
        (
            &props[0]["property"],
            &props[0]["rent_collected"],
            &props[0]["deposits_received"],
            &props[0]["expenses"],
            &props[0]["net"]
        ),
        (
            &json!("Amani Court"),
            &json!(30_010),
            &json!(15_000),
            &json!(10_500),
            &json!(19_510)
        )
    );
    assert_eq!(
        (
            &props[1]["property"],
            &props[1]["rent_collected"],
            &props[1]["other_income"],
            &props[1]["expenses"],
            &props[1]["net"]
        ),
        (
            &json!("Baraka Plaza"),
            &json!(50_000),
            &json!(5_000),
            &json!(6_000),
            &json!(49_000)
        )
    );
    // MRI: 7.5 % of the residential rent only (commercial Baraka Plaza, deposits, other
    // income and suspense excluded): 30 010 × 0.075 = 2 250.75 → 2 251, due March 20.
    assert_eq!(
        os["mri"],
        json!({"rate_bp": 750, "gross_residential_rent": 30_010, "tax": 2_251,
               "due_date": "2026-03-20"})
    );
    let csv = csv_of(&app, "/v1/reports/owner-statement?period=2026-02").await;
    let kv: HashMap<String, String> = csv
        .iter()
        .map(|r| (r["item"].clone(), r["value"].clone()))
        .collect();
    for (k, v) in [
        ("rent_collected", 80_010),
        ("other_income", 5_000),
        ("expenses", 16_500),
        ("net", 68_510),
        ("deposits_received", 55_000),
        ("unmatched_receipts", 7_000),
        ("expenses:repairs", 8_000),
        ("mri_gross_residential_rent", 30_010),
        ("mri_rate_bp", 750),
        ("mri_tax", 2_251),
    ] {
        assert_eq!(num(&kv[k]), v, "{k}");
    }
    assert_eq!(kv["mri_due_date"], "2026-03-20");
    // One property only: no suspense figure (it belongs to no property).
    let (_, one) = app
        .get(
            WHO,
            &format!(
                "/v1/reports/owner-statement?period=2026-02&property_id={}",
                props[1]["property_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(
        (
            &one["rent_collected"],
            &one["net"],
            &one["unmatched_receipts"],
            &one["mri"]["tax"]
        ),
        (&json!(50_000), &json!(49_000), &json!(0), &json!(0))
    );

    // ---- occupancy ----------------------------------------------------------------------
    let (s, oc) = app.get(WHO, "/v1/reports/occupancy?period=2026-02").await;
    assert_eq!(s, 200, "{oc}");
    let got: Vec<(String, i64, i64, bool)> = oc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unit"].as_str().unwrap().to_string(),
                r["occupied_days"].as_i64().unwrap(),
                r["vacancy_days"].as_i64().unwrap(),
                r["occupied_at_end"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("A1".into(), 28, 0, true),
            ("A2".into(), 14, 14, true),  // from Feb 15
            ("A3".into(), 10, 18, false), // until Feb 10
            ("A4".into(), 0, 28, false),
            ("S1".into(), 28, 0, true),
        ]
    );
    assert_eq!(
        oc["totals"],
        json!({"units": 5, "occupied_units": 3, "vacant_units": 2, "unit_days": 140,
               "occupied_days": 80, "vacancy_days": 60, "occupancy_bp": 5714})
    );
    let csv = csv_of(&app, "/v1/reports/occupancy?period=2026-02").await;
    assert_eq!(
        csv.iter()
            .map(|r| (
                num(&r["occupied_days"]),
                num(&r["vacancy_days"]),
                r["occupied_at_end"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (28, 0, "true".to_string()),
            (14, 14, "true".into()),
            (10, 18, "false".into()),
            (0, 28, "false".into()),
            (28, 0, "true".into())
        ]
    );

    // ---- deposit register ---------------------------------------------------------------
    let (s, dr) = app.get(WHO, "/v1/reports/deposits?period=2026-02").await;
    assert_eq!(s, 200, "{dr}");
    let got: Vec<(String, i64, i64, i64, i64)> = dr["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["lease_id"].as_str().unwrap().to_string(),
                r["agreed"].as_i64().unwrap(),
                r["received_in_period"].as_i64().unwrap(),
                r["held"].as_i64().unwrap(),
                r["outstanding"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (f.l1.clone(), 20_000, 0, 20_000, 0),
            (f.l2.clone(), 15_000, 15_000, 15_000, 0),
            (f.l3.clone(), 12_000, 0, 8_000, 4_000),
            (f.l4.clone(), 100_000, 40_000, 100_000, 0),
        ]
    );
    assert_eq!(
        dr["totals"],
        json!({"leases": 4, "agreed": 147_000, "received_in_period": 55_000,
               "held": 143_000, "outstanding": 4_000})
    );
    let csv = csv_of(&app, "/v1/reports/deposits?period=2026-02").await;
    assert_eq!(
        csv.iter()
            .map(|r| (
                r["lease_id"].clone(),
                num(&r["agreed"]),
                num(&r["received_in_period"]),
                num(&r["held"]),
                num(&r["outstanding"])
            ))
            .collect::<Vec<_>>(),
        got
    );

    // Deposits never pay rent: L2's February invoice is settled by its rent alone, and the
    // tenant statement keeps the deposit apart.
    let (_, inv) = app
        .get(WHO, &format!("/v1/invoices?lease_id={}", f.l2))
        .await;
    assert_eq!(inv["items"][0]["paid"], 15_000);
    let (_, l3_inv) = app
        .get(
            WHO,
            &format!("/v1/invoices?lease_id={}&period=2026-02", f.l3),
        )
        .await;
    assert_eq!(l3_inv["items"][0]["balance"], 12_000);

    // A bad period names the parameter.
    let (s, v) = app.get(WHO, "/v1/reports/rent-roll?period=2026-2").await;
    assert_eq!(s, 400);
    assert_eq!(v["invalid-params"][0]["name"], "period");
    let (s, v) = app.get(WHO, "/v1/reports/occupancy").await;
    assert_eq!(s, 400);
    assert_eq!(v["invalid-params"][0]["name"], "period");
    // Another landlord sees none of it.
    let (_, other) = app
        .get("owner-b", "/v1/reports/rent-roll?period=2026-02")
        .await;
    assert_eq!(other["rows"], json!([]));
}

#[tokio::test]
async fn the_mri_rate_comes_from_the_server_flag() {
    let db = fresh_db().await;
    let app = TestApp::spawn_on(&db, &["--mri-rate-bp", "1000"]).await;
    fixture(&app).await;
    let (_, os) = app
        .get(WHO, "/v1/reports/owner-statement?period=2026-02")
        .await;
    // 30 010 × 10 % = 3 001.
    assert_eq!(os["mri"]["rate_bp"], 1000);
    assert_eq!(os["mri"]["tax"], 3_001);
}
