//! Maintenance workflow, expenses, and cursor pagination that stays exact while rows are
//! inserted between pages.

mod common;

use common::*;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn maintenance_workflow_with_an_illegal_transition_and_a_cost_recorded_as_expense() {
    let app = TestApp::spawn().await;
    let (unit, _t, _l) = rental(&app, "landlord-a", "MW-1", 18_000).await;
    let (_, u) = app.get("landlord-a", &format!("/v1/units/{unit}")).await;
    let property = u["property_id"].as_str().unwrap().to_string();

    let (s, m) = app
        .post(
            "landlord-a",
            "/v1/maintenance-requests",
            json!({"unit_id": unit, "title": "Broken window", "description": "Bedroom, cracked pane",
                   "priority": "urgent"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(m["status"], "open");
    assert_eq!(m["priority"], "urgent");
    assert_eq!(m["property_id"], property.as_str());
    let id = m["id"].as_str().unwrap().to_string();
    let path = format!("/v1/maintenance-requests/{id}");

    // open → resolved skips in_progress: 409 naming `status`, nothing changes.
    let before = app.snapshot().await;
    let (s, v) = app
        .patch(
            "landlord-a",
            &path,
            json!({"status": "resolved", "cost": 3000}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["invalid-params"][0]["name"], "status");
    assert_eq!(app.snapshot().await, before);
    // A cost without resolving: 400 naming `cost`.
    let (s, v) = app
        .patch(
            "landlord-a",
            &path,
            json!({"status": "in_progress", "cost": 3000}),
        )
        .await;
    assert_eq!(
        (s, v["invalid-params"][0]["name"].as_str()),
        (400, Some("cost"))
    );
    // Unknown status value: 400 naming `status`.
    let (s, v) = app
        .patch("landlord-a", &path, json!({"status": "done"}))
        .await;
    assert_eq!(
        (s, v["invalid-params"][0]["name"].as_str()),
        (400, Some("status"))
    );

    let (s, v) = app
        .patch(
            "landlord-a",
            &path,
            json!({"status": "in_progress", "assignee": "Juma Glass & Co"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "in_progress");
    assert_eq!(v["assignee"], "Juma Glass & Co");
    // in_progress → in_progress is not a transition.
    let (s, _) = app
        .patch("landlord-a", &path, json!({"status": "in_progress"}))
        .await;
    assert_eq!(s, 409);

    let (s, v) = app
        .patch(
            "landlord-a",
            &path,
            json!({"status": "resolved", "cost": "3500.00", "resolved_on": "2026-03-02"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["cost"], 3_500);
    assert!(v["resolved_at"].is_string());
    let expense = v["expense_id"].as_str().unwrap().to_string();
    let (s, e) = app
        .get("landlord-a", &format!("/v1/expenses/{expense}"))
        .await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(
        (
            &e["property_id"],
            &e["category"],
            &e["amount"],
            &e["spent_on"],
            &e["note"]
        ),
        (
            &json!(property),
            &json!("maintenance"),
            &json!(3_500),
            &json!("2026-03-02"),
            &json!("Broken window")
        )
    );
    // Closed: no further transition, no reassignment.
    for body in [json!({"status": "cancelled"}), json!({"assignee": null})] {
        let (s, v) = app.patch("landlord-a", &path, body).await;
        assert_eq!(
            (s, v["invalid-params"][0]["name"].as_str()),
            (409, Some("status"))
        );
    }
    // Another: open → cancelled.
    let (_, m2) = app
        .post(
            "landlord-a",
            "/v1/maintenance-requests",
            json!({"unit_id": unit, "title": "Repaint door"}),
        )
        .await;
    assert_eq!(m2["priority"], "normal");
    let (s, v) = app
        .patch(
            "landlord-a",
            &format!("/v1/maintenance-requests/{}", m2["id"].as_str().unwrap()),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("cancelled")));

    // Filters.
    let list = |q: &str| {
        let app = &app;
        let q = q.to_string();
        async move {
            let (s, v) = app
                .get("landlord-a", &format!("/v1/maintenance-requests{q}"))
                .await;
            assert_eq!(s, 200, "{v}");
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["title"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("").await, vec!["Repaint door", "Broken window"]);
    assert_eq!(list("?status=resolved").await, vec!["Broken window"]);
    assert_eq!(list("?priority=normal").await, vec!["Repaint door"]);
    assert_eq!(
        list(&format!("?property_id={property}&status=cancelled")).await,
        vec!["Repaint door"]
    );
    assert!(list(&format!("?property_id={}", uuid_zero()))
        .await
        .is_empty());
    let (s, v) = app
        .get("landlord-a", "/v1/maintenance-requests?priority=asap")
        .await;
    assert_eq!(
        (s, v["invalid-params"][0]["name"].as_str()),
        (400, Some("priority"))
    );

    // Another landlord: not found, and cannot open a request on this unit.
    let (s, _) = app.get("landlord-b", &path).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .patch("landlord-b", &path, json!({"priority": "low"}))
        .await;
    assert_eq!(s, 404);
    let (s, v) = app
        .post(
            "landlord-b",
            "/v1/maintenance-requests",
            json!({"unit_id": unit, "title": "x"}),
        )
        .await;
    assert_eq!(
        (s, v["invalid-params"][0]["name"].as_str()),
        (422, Some("unit_id"))
    );
}

fn uuid_zero() -> &'static str {
    "00000000-0000-0000-0000-000000000000"
}

#[tokio::test]
async fn expenses_are_listed_by_property_and_period() {
    let app = TestApp::spawn().await;
    let (unit, _t, _l) = rental(&app, "landlord-a", "EX-1", 10_000).await;
    let (_, u) = app.get("landlord-a", &format!("/v1/units/{unit}")).await;
    let p = u["property_id"].as_str().unwrap().to_string();
    let (_, p2) = app
        .post(
            "landlord-a",
            "/v1/properties",
            json!({"name": "Other", "county": "Kiambu", "address": "Thika Rd"}),
        )
        .await;
    let p2 = p2["id"].as_str().unwrap().to_string();
    for (prop, cat, amount, on) in [
        (&p, "utilities", 2_300, "2026-02-01"),
        (&p, "security", 4_000, "2026-02-28"),
        (&p, "cleaning", 900, "2026-03-01"),
        (&p2, "insurance", 12_000, "2026-02-10"),
    ] {
        let (s, v) = app
            .post(
                "landlord-a",
                "/v1/expenses",
                json!({"property_id": prop, "category": cat, "amount": amount, "spent_on": on}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["amount"], amount);
    }
    let amounts = |q: String| {
        let app = &app;
        async move {
            let (s, v) = app.get("landlord-a", &format!("/v1/expenses{q}")).await;
            assert_eq!(s, 200, "{v}");
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["amount"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        amounts(String::new()).await,
        vec![12_000, 900, 4_000, 2_300]
    );
    assert_eq!(
        amounts(format!("?property_id={p}&period=2026-02")).await,
        vec![4_000, 2_300]
    );
    assert_eq!(amounts("?period=2026-03".into()).await, vec![900]);
    assert_eq!(amounts("?category=insurance".into()).await, vec![12_000]);

    let before = app.snapshot().await;
    for (body, field, status) in [
        (
            json!({"property_id": p, "category": "bribes", "amount": 1, "spent_on": "2026-02-01"}),
            "category",
            400,
        ),
        (
            json!({"property_id": p, "category": "other", "amount": 10.5, "spent_on": "2026-02-01"}),
            "amount",
            400,
        ),
        (
            json!({"property_id": p, "category": "other", "amount": 0, "spent_on": "2026-02-01"}),
            "amount",
            400,
        ),
        (
            json!({"property_id": p, "category": "other", "amount": 1, "spent_on": "01/02/2026"}),
            "spent_on",
            400,
        ),
        (
            json!({"property_id": uuid_zero(), "category": "other", "amount": 1, "spent_on": "2026-02-01"}),
            "property_id",
            422,
        ),
    ] {
        let (s, v) = app.post("landlord-a", "/v1/expenses", body).await;
        assert_eq!(
            (s, v["invalid-params"][0]["name"].as_str()),
            (status, Some(field)),
            "{v}"
        );
    }
    let (s, v) = app.get("landlord-a", "/v1/expenses?period=2026").await;
    assert_eq!(
        (s, v["invalid-params"][0]["name"].as_str()),
        (400, Some("period"))
    );
    assert_eq!(app.snapshot().await, before);
    // Another landlord's property is not theirs to charge.
    let (s, _) = app
        .post(
            "landlord-b",
            "/v1/expenses",
            json!({"property_id": p, "category": "other", "amount": 1, "spent_on": "2026-02-01"}),
        )
        .await;
    assert_eq!(s, 422);
    assert!(amounts_of_b(&app).await.is_empty());
}

async fn amounts_of_b(app: &TestApp) -> Vec<serde_json::Value> {
    let (_, v) = app.get("landlord-b", "/v1/expenses").await;
    v["items"].as_array().unwrap().clone()
}

/// Pages through `path` 3 at a time, creating a new row before each page; every row that
/// existed at the start is seen exactly once, and no row twice.
async fn paginate_while_inserting<F, Fut>(
    app: &TestApp,
    path: &str,
    existing: Vec<String>,
    mut insert: F,
) where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut inserted = HashSet::new();
    for page in 0.. {
        inserted.insert(insert(page).await);
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=3&cursor={c}"),
            None => format!("{path}{sep}limit=3"),
        };
        let (s, v) = app.get("landlord-a", &url).await;
        assert_eq!(s, 200, "{v}");
        let items = v["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(page < 50, "pagination does not end");
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a row was returned twice: {seen:?}"
    );
    for id in &existing {
        assert_eq!(
            seen.iter().filter(|s| *s == id).count(),
            1,
            "{id} not seen exactly once"
        );
    }
    // Rows inserted after the first page started are newer than every cursor: the
    // only one that can show is the one inserted before the first page.
    let late: Vec<&String> = seen.iter().filter(|s| !existing.contains(s)).collect();
    assert!(late.len() <= 1, "{late:?}");
    assert!(late.iter().all(|s| inserted.contains(*s)));
    // Newest first.
    let order: Vec<&String> = seen.iter().filter(|s| existing.contains(s)).collect();
    let mut expected: Vec<&String> = existing.iter().collect();
    expected.reverse();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn pagination_returns_every_row_once_while_rows_are_inserted() {
    let app = TestApp::spawn().await;
    let (unit, _t, lease) = rental(&app, "landlord-a", "PG-1", 10_000).await;
    let (_, u) = app.get("landlord-a", &format!("/v1/units/{unit}")).await;
    let property = u["property_id"].as_str().unwrap().to_string();

    let new_request = |n: usize| {
        let app = &app;
        let unit = unit.clone();
        async move {
            let (s, v) = app
                .post(
                    "landlord-a",
                    "/v1/maintenance-requests",
                    json!({"unit_id": unit, "title": format!("Job {n}")}),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            v["id"].as_str().unwrap().to_string()
        }
    };
    let mut existing = Vec::new();
    for n in 0..10 {
        existing.push(new_request(n).await);
    }
    paginate_while_inserting(&app, "/v1/maintenance-requests", existing, |n| {
        new_request(100 + n)
    })
    .await;

    let new_expense = |n: usize| {
        let app = &app;
        let property = property.clone();
        async move {
            let (s, v) = app
                .post(
                    "landlord-a",
                    "/v1/expenses",
                    json!({"property_id": property, "category": "other", "amount": 100 + n, "spent_on": "2026-02-10"}),
                )
                .await;
            assert_eq!(s, 201, "{v}");
            v["id"].as_str().unwrap().to_string()
        }
    };
    let mut existing = Vec::new();
    for n in 0..8 {
        existing.push(new_expense(n).await);
    }
    paginate_while_inserting(&app, "/v1/expenses?period=2026-02", existing, |n| {
        new_expense(500 + n)
    })
    .await;

    let new_payment = |n: usize| {
        let app = &app;
        let lease = lease.clone();
        async move {
            let r = app
                .http
                .post(app.url("/v1/payments"))
                .bearer_auth(token("landlord-a"))
                .header("Idempotency-Key", format!("pg-{n}"))
                .json(&json!({"lease_id": lease, "amount": 10 + n, "method": "cash"}))
                .send()
                .await
                .unwrap();
            let (s, v) = status_json(r).await;
            assert_eq!(s, 201, "{v}");
            v["id"].as_str().unwrap().to_string()
        }
    };
    let mut existing = Vec::new();
    for n in 0..7 {
        existing.push(new_payment(n).await);
    }
    paginate_while_inserting(&app, "/v1/payments", existing, |n| new_payment(900 + n)).await;

    // A cursor that is not ours names the parameter.
    let (s, v) = app
        .get("landlord-a", "/v1/maintenance-requests?cursor=abc")
        .await;
    assert_eq!(
        (s, v["invalid-params"][0]["name"].as_str()),
        (400, Some("cursor"))
    );
    let all = all_ids(&app, "landlord-a", "/v1/maintenance-requests?limit=4").await;
    let n = app
        .db()
        .await
        .count("SELECT count(*) FROM maintenance_requests")
        .await;
    assert_eq!(all.len() as i64, n);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
}
