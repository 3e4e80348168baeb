//! Reports for a month: `GET /v1/reports/<name>?period=YYYY-MM[&property_id=…]`.
//! JSON by default; `Accept: text/csv` answers the report's rows as CSV (a header line,
//! then one line per row; amounts as integers of whole shillings; totals only in JSON).

use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::{Day, Period};
use crate::error::{doc, ApiError};
use crate::extract::Query;
use crate::service::reports::{ArrearsAging, DepositRegister, Occupancy, RentRoll};
use crate::service::{self};
use crate::state::AppState;
use crate::store::reports;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/reports/rent-roll", rent_roll),
        ApiRoute::get("/v1/reports/arrears", arrears),
        ApiRoute::get("/v1/reports/owner-statement", owner_statement),
        ApiRoute::get("/v1/reports/occupancy", occupancy),
        ApiRoute::get("/v1/reports/deposits", deposits),
    ]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// The month, `YYYY-MM`.
    period: Period,
    /// Only this property.
    property_id: Option<Uuid>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ArrearsQuery {
    /// The month, `YYYY-MM`.
    period: Period,
    /// The day arrears are aged on; default the period's last day.
    as_of: Option<Day>,
    /// Only this property.
    property_id: Option<Uuid>,
}

/// `Accept: text/csv` (before any application/json in the list) asks for CSV.
fn wants_csv(h: &HeaderMap) -> bool {
    let accept = h
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        if refused {
            continue;
        }
        match media.as_str() {
            "text/csv" => return true,
            "application/json" => return false,
            _ => {}
        }
    }
    false
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is
/// prefixed with `'`; names come from users.
fn text_cell(s: Option<&str>) -> String {
    let s = s.unwrap_or("");
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv_response(
    name: &str,
    period: Period,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Response, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(ApiError::internal)?;
    for r in rows {
        w.write_record(&r).map_err(ApiError::internal)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::internal(e.into_error()))?;
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}-{period}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Rent roll: every unit with its lease(s) in the period — tenant, rent, rent invoiced for
/// the period, rent paid during it, and the balance owed at its end. CSV columns:
/// `property,unit,lease_id,tenant,rent,invoiced,paid,balance`.
#[utoipa::path(get, path = "/v1/reports/rent-roll", operation_id = "rentRollReport", tag = "reports",
    params(ReportQuery),
    responses((status = 200, description = "the rent roll", content((RentRoll = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn rent_roll(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let r = service::reports::rent_roll(&st, &me, q.period, q.property_id).await?;
    if wants_csv(&headers) {
        return csv_response(
            "rent-roll",
            q.period,
            &[
                "property", "unit", "lease_id", "tenant", "rent", "invoiced", "paid", "balance",
            ],
            r.rows.iter().map(|r| {
                vec![
                    text_cell(Some(&r.property)),
                    text_cell(Some(&r.unit)),
                    opt(r.lease_id),
                    text_cell(r.tenant.as_deref()),
                    r.rent.to_string(),
                    r.invoiced.to_string(),
                    r.paid.to_string(),
                    r.balance.to_string(),
                ]
            }),
        );
    }
    Ok(axum::Json(r).into_response())
}

/// Arrears aging per lease on `as_of` (default: the period's last day): overdue rent split
/// by days past its due date — 0–30 (`d0_30`: 1 to 30 days), 31–60, 61–90, over 90. Rent
/// paid up to the end of `as_of` settles the oldest invoices first; an invoice due on
/// `as_of` is not overdue yet. Leases owing nothing are left out. CSV columns:
/// `property,unit,lease_id,tenant,d0_30,d31_60,d61_90,d90_plus,total`.
#[utoipa::path(get, path = "/v1/reports/arrears", operation_id = "arrearsReport", tag = "reports",
    params(ArrearsQuery),
    responses((status = 200, description = "the aging", content((ArrearsAging = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn arrears(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    headers: HeaderMap,
    Query(q): Query<ArrearsQuery>,
) -> Result<Response, ApiError> {
    let r =
        service::reports::arrears(&st, &me, q.period, q.as_of.map(|d| d.0), q.property_id).await?;
    if wants_csv(&headers) {
        return csv_response(
            "arrears",
            q.period,
            &[
                "property", "unit", "lease_id", "tenant", "d0_30", "d31_60", "d61_90", "d90_plus",
                "total",
            ],
            r.rows.iter().map(|r| {
                vec![
                    text_cell(Some(&r.property)),
                    text_cell(Some(&r.unit)),
                    r.lease_id.to_string(),
                    text_cell(r.tenant.as_deref()),
                    r.buckets.d0_30.to_string(),
                    r.buckets.d31_60.to_string(),
                    r.buckets.d61_90.to_string(),
                    r.buckets.d90_plus.to_string(),
                    r.total.to_string(),
                ]
            }),
        );
    }
    Ok(axum::Json(r).into_response())
}

/// Owner statement: rent collected, other income, expenses (by category and property), net,
/// deposits received (held, not income), suspense receipts, and Kenya's Monthly Rental
/// Income tax — the server's `--mri-rate-bp` (default 750 = 7.5 %) of the gross rent
/// received on residential properties in the month, deposits excluded, rounded to the
/// nearest shilling (halves up), due by the 20th of the next month. CSV: `item,value` lines
/// (`rent_collected`, `other_income`, `expenses`, `net`, `deposits_received`,
/// `unmatched_receipts`, `expenses:<category>`…, `mri_gross_residential_rent`,
/// `mri_rate_bp`, `mri_tax`, `mri_due_date`).
#[utoipa::path(get, path = "/v1/reports/owner-statement", operation_id = "ownerStatementReport", tag = "reports",
    params(ReportQuery),
    responses((status = 200, description = "the statement", content((reports::OwnerStatement = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn owner_statement(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let s = service::reports::owner_statement(&st, &me, q.period, q.property_id).await?;
    if wants_csv(&headers) {
        let mut lines: Vec<Vec<String>> = vec![
            vec!["rent_collected".into(), s.rent_collected.to_string()],
            vec!["other_income".into(), s.other_income.to_string()],
            vec!["expenses".into(), s.expenses.to_string()],
            vec!["net".into(), s.net.to_string()],
            vec!["deposits_received".into(), s.deposits_received.to_string()],
            vec![
                "unmatched_receipts".into(),
                s.unmatched_receipts.to_string(),
            ],
        ];
        for c in &s.expenses_by_category {
            lines.push(vec![
                format!("expenses:{}", c.category),
                c.amount.to_string(),
            ]);
        }
        lines.extend([
            vec![
                "mri_gross_residential_rent".into(),
                s.mri.gross_residential_rent.to_string(),
            ],
            vec!["mri_rate_bp".into(), s.mri.rate_bp.to_string()],
            vec!["mri_tax".into(), s.mri.tax.to_string()],
            vec!["mri_due_date".into(), s.mri.due_date.to_string()],
        ]);
        return csv_response(
            "owner-statement",
            q.period,
            &["item", "value"],
            lines.into_iter(),
        );
    }
    Ok(axum::Json(s).into_response())
}

/// Occupancy: per unit, the days of the period covered by a lease and the vacancy days;
/// occupied and vacant units on the period's last day. CSV columns:
/// `property,unit,days,occupied_days,vacancy_days,occupied_at_end`.
#[utoipa::path(get, path = "/v1/reports/occupancy", operation_id = "occupancyReport", tag = "reports",
    params(ReportQuery),
    responses((status = 200, description = "occupancy", content((Occupancy = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn occupancy(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let r = service::reports::occupancy(&st, &me, q.period, q.property_id).await?;
    if wants_csv(&headers) {
        return csv_response(
            "occupancy",
            q.period,
            &[
                "property",
                "unit",
                "days",
                "occupied_days",
                "vacancy_days",
                "occupied_at_end",
            ],
            r.rows.iter().map(|r| {
                vec![
                    text_cell(Some(&r.property)),
                    text_cell(Some(&r.unit)),
                    r.days.to_string(),
                    r.occupied_days.to_string(),
                    r.vacancy_days.to_string(),
                    r.occupied_at_end.to_string(),
                ]
            }),
        );
    }
    Ok(axum::Json(r).into_response())
}

/// Deposit register: every lease started by the period's end with its deposit — agreed,
/// received during the period, held at its end (all deposit payments so far), outstanding.
/// CSV columns: `property,unit,lease_id,tenant,start_date,end_date,agreed,received_in_period,held,outstanding`.
#[utoipa::path(get, path = "/v1/reports/deposits", operation_id = "depositRegisterReport", tag = "reports",
    params(ReportQuery),
    responses((status = 200, description = "the register", content((DepositRegister = "application/json"), (String = "text/csv"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn deposits(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let r = service::reports::deposits(&st, &me, q.period, q.property_id).await?;
    if wants_csv(&headers) {
        return csv_response(
            "deposits",
            q.period,
            &[
                "property",
                "unit",
                "lease_id",
                "tenant",
                "start_date",
                "end_date",
                "agreed",
                "received_in_period",
                "held",
                "outstanding",
            ],
            r.rows.iter().map(|r| {
                vec![
                    text_cell(Some(&r.property)),
                    text_cell(Some(&r.unit)),
                    r.lease_id.to_string(),
                    text_cell(r.tenant.as_deref()),
                    r.start_date.to_string(),
                    opt(r.end_date),
                    r.agreed.to_string(),
                    r.received_in_period.to_string(),
                    r.held.to_string(),
                    r.outstanding.to_string(),
                ]
            }),
        );
    }
    Ok(axum::Json(r).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(wants_csv(&h("text/csv")));
        assert!(wants_csv(&h(
            "text/csv; charset=utf-8, application/json;q=0.5"
        )));
        assert!(!wants_csv(&h("application/json, text/csv")));
        assert!(!wants_csv(&h("text/csv;q=0, */*")));
        assert!(!wants_csv(&h("*/*")));
        assert!(!wants_csv(&HeaderMap::new()));
    }

    #[test]
    fn formula_like_text_is_neutralised() {
        assert_eq!(text_cell(Some("=HYPERLINK(\"x\")")), "'=HYPERLINK(\"x\")");
        assert_eq!(text_cell(Some("Wanjiru")), "Wanjiru");
        assert_eq!(text_cell(None), "");
    }
}
