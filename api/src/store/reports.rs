//! Reports for a period `YYYY-MM`: rent roll, arrears aging, owner statement (with Monthly
//! Rental Income tax), occupancy, deposit register. Payments fall in the month of their
//! East Africa Time; only `credited` payments count (suspense payments are shown apart).

use crate::domain::aging::{age, Buckets};
use crate::domain::{eat_day_start, tax, Period};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RentRollRow {
    pub property_id: Uuid,
    pub property: String,
    pub unit_id: Uuid,
    pub unit: String,
    /// None: the unit was vacant the whole period.
    pub lease_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    /// None when vacant or when the tenant's personal data was erased.
    pub tenant: Option<String>,
    /// The lease's monthly rent (the unit's asking rent when vacant).
    pub rent: i64,
    /// Rent invoiced for the period.
    pub invoiced: i64,
    /// Rent paid during the period.
    pub paid: i64,
    /// Owed at the end of the period: rent invoiced for this and earlier periods minus rent
    /// paid up to the period's end (negative = credit).
    pub balance: i64,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RentRollTotals {
    pub units: i64,
    pub invoiced: i64,
    pub paid: i64,
    pub balance: i64,
}

pub async fn rent_roll(
    c: &mut PgConnection,
    landlord: &str,
    period: Period,
    property: Option<Uuid>,
) -> Result<(Vec<RentRollRow>, RentRollTotals), sqlx::Error> {
    let rows: Vec<RentRollRow> = sqlx::query_as(
        "SELECT p.id AS property_id, p.name AS property, u.id AS unit_id, u.label AS unit,
            l.id AS lease_id, l.tenant_id, t.name AS tenant,
            COALESCE(l.rent, u.monthly_rent) AS rent,
            COALESCE((SELECT SUM(i.amount) FROM invoices i
                      WHERE i.lease_id = l.id AND i.period = $3), 0)::bigint AS invoiced,
            COALESCE((SELECT SUM(x.amount) FROM payments x
                      WHERE x.lease_id = l.id AND x.status = 'credited' AND x.kind = 'rent'
                        AND x.paid_at >= $4 AND x.paid_at < $5), 0)::bigint AS paid,
            (COALESCE((SELECT SUM(i.amount) FROM invoices i
                       WHERE i.lease_id = l.id AND i.period <= $3), 0)
             - COALESCE((SELECT SUM(x.amount) FROM payments x
                       WHERE x.lease_id = l.id AND x.status = 'credited' AND x.kind = 'rent'
                         AND x.paid_at < $5), 0))::bigint AS balance
         FROM units u
         JOIN properties p ON p.id = u.property_id
         LEFT JOIN leases l ON l.unit_id = u.id AND l.start_date <= $7
              AND (l.end_date IS NULL OR l.end_date >= $6)
         LEFT JOIN tenants t ON t.id = l.tenant_id
         WHERE u.landlord_id = $1 AND ($2::uuid IS NULL OR u.property_id = $2)
         ORDER BY p.name, p.seq, u.label, l.start_date",
    )
    .bind(landlord)
    .bind(property)
    .bind(period.to_string())
    .bind(period.starts_at())
    .bind(period.ends_at())
    .bind(period.first_day())
    .bind(period.last_day())
    .fetch_all(c)
    .await?;
    let mut t = RentRollTotals::default();
    let mut units = std::collections::HashSet::new();
    for r in &rows {
        units.insert(r.unit_id);
        t.invoiced += r.invoiced;
        t.paid += r.paid;
        t.balance += r.balance;
    }
    t.units = units.len() as i64;
    Ok((rows, t))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArrearsRow {
    pub property_id: Uuid,
    pub property: String,
    pub unit_id: Uuid,
    pub unit: String,
    pub lease_id: Uuid,
    pub tenant_id: Uuid,
    pub tenant: Option<String>,
    #[serde(flatten)]
    pub buckets: Buckets,
    pub total: i64,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ArrearsTotals {
    pub leases: i64,
    #[serde(flatten)]
    pub buckets: Buckets,
    pub total: i64,
}

/// Rent overdue on `as_of` per lease (leases owing nothing are left out), aged by days past
/// the due date. Rent paid up to the end of `as_of` (EAT) settles the oldest invoices first.
pub async fn arrears(
    c: &mut PgConnection,
    landlord: &str,
    as_of: NaiveDate,
    property: Option<Uuid>,
) -> Result<(Vec<ArrearsRow>, ArrearsTotals), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct L {
        property_id: Uuid,
        property: String,
        unit_id: Uuid,
        unit: String,
        lease_id: Uuid,
        tenant_id: Uuid,
        tenant: Option<String>,
        paid: i64,
    }
    let end = eat_day_start(as_of.succ_opt().unwrap_or(as_of));
    let leases: Vec<L> = sqlx::query_as(
        "SELECT p.id AS property_id, p.name AS property, u.id AS unit_id, u.label AS unit,
            l.id AS lease_id, l.tenant_id, t.name AS tenant,
            COALESCE((SELECT SUM(x.amount) FROM payments x
                      WHERE x.lease_id = l.id AND x.status = 'credited' AND x.kind = 'rent'
                        AND x.paid_at < $3), 0)::bigint AS paid
         FROM leases l JOIN units u ON u.id = l.unit_id JOIN properties p ON p.id = u.property_id
         JOIN tenants t ON t.id = l.tenant_id
         WHERE l.landlord_id = $1 AND ($2::uuid IS NULL OR u.property_id = $2)
         ORDER BY p.name, p.seq, u.label, l.start_date",
    )
    .bind(landlord)
    .bind(property)
    .bind(end)
    .fetch_all(&mut *c)
    .await?;
    let ids: Vec<Uuid> = leases.iter().map(|l| l.lease_id).collect();
    let invs: Vec<(Uuid, NaiveDate, i64)> =
        sqlx::query_as("SELECT lease_id, due_date, amount FROM invoices WHERE lease_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *c)
            .await?;
    let mut by_lease: HashMap<Uuid, Vec<(NaiveDate, i64)>> = HashMap::new();
    for (l, due, amount) in invs {
        by_lease.entry(l).or_default().push((due, amount));
    }
    let mut rows = Vec::new();
    let mut t = ArrearsTotals::default();
    for l in leases {
        let b = age(
            by_lease.get(&l.lease_id).map_or(&[][..], |v| v.as_slice()),
            l.paid,
            as_of,
        );
        if b.total() == 0 {
            continue;
        }
        t.leases += 1;
        t.buckets.add(&b);
        t.total += b.total();
        rows.push(ArrearsRow {
            property_id: l.property_id,
            property: l.property,
            unit_id: l.unit_id,
            unit: l.unit,
            lease_id: l.lease_id,
            tenant_id: l.tenant_id,
            tenant: l.tenant,
            total: b.total(),
            buckets: b,
        });
    }
    Ok((rows, t))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PropertyLine {
    pub property_id: Uuid,
    pub property: String,
    /// `residential` | `commercial`
    pub usage: String,
    pub rent_collected: i64,
    pub other_income: i64,
    pub deposits_received: i64,
    pub expenses: i64,
    /// rent_collected + other_income − expenses
    pub net: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CategoryLine {
    pub category: String,
    pub amount: i64,
}

/// Kenya's Monthly Rental Income tax for the period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Mri {
    /// Basis points (750 = 7.5 %), from the server's `--mri-rate-bp`.
    pub rate_bp: u32,
    /// Gross rent received in the month on residential properties; deposits, other income
    /// and suspense payments excluded.
    pub gross_residential_rent: i64,
    /// gross × rate, rounded to the nearest shilling, halves up.
    pub tax: i64,
    /// The 20th of the next month.
    pub due_date: NaiveDate,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OwnerStatement {
    pub period: String,
    pub property_id: Option<Uuid>,
    /// Rent received in the period (payments of kind `rent` credited to leases).
    pub rent_collected: i64,
    /// Payments of kind `other` (service charge, water, parking …).
    pub other_income: i64,
    pub expenses: i64,
    /// rent_collected + other_income − expenses. Deposits are held, not income.
    pub net: i64,
    /// Deposits received in the period (excluded from income, net and MRI).
    pub deposits_received: i64,
    /// Money received in the period that waits in suspense (not matched to a lease, so not
    /// in any figure above). Only without a `property_id` filter.
    pub unmatched_receipts: i64,
    pub expenses_by_category: Vec<CategoryLine>,
    pub properties: Vec<PropertyLine>,
    pub mri: Mri,
}

pub async fn owner_statement(
    c: &mut PgConnection,
    landlord: &str,
    period: Period,
    property: Option<Uuid>,
    mri_rate_bp: u32,
) -> Result<OwnerStatement, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct P {
        id: Uuid,
        name: String,
        usage: String,
        rent: i64,
        other: i64,
        deposit: i64,
        expenses: i64,
    }
    let props: Vec<P> = sqlx::query_as(
        "SELECT pr.id, pr.name, pr.usage,
            COALESCE(SUM(x.amount) FILTER (WHERE x.kind = 'rent'), 0)::bigint AS rent,
            COALESCE(SUM(x.amount) FILTER (WHERE x.kind = 'other'), 0)::bigint AS other,
            COALESCE(SUM(x.amount) FILTER (WHERE x.kind = 'deposit'), 0)::bigint AS deposit,
            COALESCE((SELECT SUM(e.amount) FROM expenses e WHERE e.property_id = pr.id
                      AND e.spent_on >= $5 AND e.spent_on <= $6), 0)::bigint AS expenses
         FROM properties pr
         LEFT JOIN units u ON u.property_id = pr.id
         LEFT JOIN leases l ON l.unit_id = u.id
         LEFT JOIN payments x ON x.lease_id = l.id AND x.status = 'credited'
              AND x.paid_at >= $3 AND x.paid_at < $4
         WHERE pr.landlord_id = $1 AND ($2::uuid IS NULL OR pr.id = $2)
         GROUP BY pr.id ORDER BY pr.name, pr.seq",
    )
    .bind(landlord)
    .bind(property)
    .bind(period.starts_at())
    .bind(period.ends_at())
    .bind(period.first_day())
    .bind(period.last_day())
    .fetch_all(&mut *c)
    .await?;
    let categories: Vec<(String, i64)> = sqlx::query_as(
        "SELECT category, SUM(amount)::bigint FROM expenses
         WHERE landlord_id = $1 AND ($2::uuid IS NULL OR property_id = $2)
           AND spent_on >= $3 AND spent_on <= $4
         GROUP BY category ORDER BY category",
    )
    .bind(landlord)
    .bind(property)
    .bind(period.first_day())
    .bind(period.last_day())
    .fetch_all(&mut *c)
    .await?;
    let unmatched = if property.is_none() {
        let (u,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(SUM(amount), 0)::bigint FROM payments
             WHERE landlord_id = $1 AND status = 'unmatched' AND paid_at >= $2 AND paid_at < $3",
        )
        .bind(landlord)
        .bind(period.starts_at())
        .bind(period.ends_at())
        .fetch_one(&mut *c)
        .await?;
        u
    } else {
        0
    };
    let lines: Vec<PropertyLine> = props
        .into_iter()
        .map(|p| PropertyLine {
            property_id: p.id,
            property: p.name,
            net: p.rent + p.other - p.expenses,
            usage: p.usage,
            rent_collected: p.rent,
            other_income: p.other,
            deposits_received: p.deposit,
            expenses: p.expenses,
        })
        .collect();
    let sum = |f: fn(&PropertyLine) -> i64| lines.iter().map(f).sum::<i64>();
    let rent_collected = sum(|l| l.rent_collected);
    let other_income = sum(|l| l.other_income);
    let expenses = sum(|l| l.expenses);
    let gross_residential_rent: i64 = lines
        .iter()
        .filter(|l| l.usage == "residential")
        .map(|l| l.rent_collected)
        .sum();
    Ok(OwnerStatement {
        period: period.to_string(),
        property_id: property,
        rent_collected,
        other_income,
        expenses,
        net: rent_collected + other_income - expenses,
        deposits_received: sum(|l| l.deposits_received),
        unmatched_receipts: unmatched,
        expenses_by_category: categories
            .into_iter()
            .map(|(category, amount)| CategoryLine { category, amount })
            .collect(),
        mri: Mri {
            rate_bp: mri_rate_bp,
            gross_residential_rent,
            tax: tax::mri(gross_residential_rent, mri_rate_bp),
            due_date: tax::mri_due_date(period),
        },
        properties: lines,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OccupancyRow {
    pub property_id: Uuid,
    pub property: String,
    pub unit_id: Uuid,
    pub unit: String,
    pub days: i64,
    /// Days of the period covered by a lease.
    pub occupied_days: i64,
    pub vacancy_days: i64,
    /// A lease covers the period's last day.
    pub occupied_at_end: bool,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct OccupancyTotals {
    pub units: i64,
    /// Units with a lease on the period's last day.
    pub occupied_units: i64,
    pub vacant_units: i64,
    pub unit_days: i64,
    pub occupied_days: i64,
    pub vacancy_days: i64,
    /// occupied_days × 10 000 ÷ unit_days, rounded down (basis points: 9 500 = 95 %).
    pub occupancy_bp: i64,
}

pub async fn occupancy(
    c: &mut PgConnection,
    landlord: &str,
    period: Period,
    property: Option<Uuid>,
) -> Result<(Vec<OccupancyRow>, OccupancyTotals), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct U {
        property_id: Uuid,
        property: String,
        unit_id: Uuid,
        unit: String,
        start_date: Option<NaiveDate>,
        end_date: Option<NaiveDate>,
    }
    let rows: Vec<U> = sqlx::query_as(
        "SELECT p.id AS property_id, p.name AS property, u.id AS unit_id, u.label AS unit,
            l.start_date, l.end_date
         FROM units u JOIN properties p ON p.id = u.property_id
         LEFT JOIN leases l ON l.unit_id = u.id AND l.start_date <= $4
              AND (l.end_date IS NULL OR l.end_date >= $3)
         WHERE u.landlord_id = $1 AND ($2::uuid IS NULL OR u.property_id = $2)
         ORDER BY p.name, p.seq, u.label, l.start_date",
    )
    .bind(landlord)
    .bind(property)
    .bind(period.first_day())
    .bind(period.last_day())
    .fetch_all(c)
    .await?;
    let days = period.days();
    let last = period.last_day();
    let mut out: Vec<OccupancyRow> = Vec::new();
    for r in rows {
        let occupied = r
            .start_date
            .map_or(0, |s| period.overlap_days(s, r.end_date));
        let at_end = r
            .start_date
            .is_some_and(|s| s <= last && r.end_date.is_none_or(|e| e >= last));
        match out.last_mut() {
            // Several leases of one unit in the period (a turnover): one row for the unit.
            Some(prev) if prev.unit_id == r.unit_id => {
                prev.occupied_days = (prev.occupied_days + occupied).min(days);
                prev.vacancy_days = days - prev.occupied_days;
                prev.occupied_at_end |= at_end;
            }
            _ => out.push(OccupancyRow {
                property_id: r.property_id,
                property: r.property,
                unit_id: r.unit_id,
                unit: r.unit,
                days,
                occupied_days: occupied,
                vacancy_days: days - occupied,
                occupied_at_end: at_end,
            }),
        }
    }
    let mut t = OccupancyTotals {
        units: out.len() as i64,
        ..Default::default()
    };
    for r in &out {
        t.occupied_units += i64::from(r.occupied_at_end);
        t.unit_days += r.days;
        t.occupied_days += r.occupied_days;
        t.vacancy_days += r.vacancy_days;
    }
    t.vacant_units = t.units - t.occupied_units;
    t.occupancy_bp = if t.unit_days == 0 {
        0
    } else {
        t.occupied_days * 10_000 / t.unit_days
    };
    Ok((out, t))
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DepositRow {
    pub property_id: Uuid,
    pub property: String,
    pub unit_id: Uuid,
    pub unit: String,
    pub lease_id: Uuid,
    pub tenant_id: Uuid,
    pub tenant: Option<String>,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    /// The deposit agreed in the lease.
    pub agreed: i64,
    /// Deposit payments received during the period.
    pub received_in_period: i64,
    /// Deposit payments received up to the period's end: what is held.
    pub held: i64,
    /// agreed − held, never below zero.
    pub outstanding: i64,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct DepositTotals {
    pub leases: i64,
    pub agreed: i64,
    pub received_in_period: i64,
    pub held: i64,
    pub outstanding: i64,
}

/// Every lease started by the period's end, with its deposit: agreed, received, held.
pub async fn deposits(
    c: &mut PgConnection,
    landlord: &str,
    period: Period,
    property: Option<Uuid>,
) -> Result<(Vec<DepositRow>, DepositTotals), sqlx::Error> {
    let rows: Vec<DepositRow> = sqlx::query_as(
        "SELECT p.id AS property_id, p.name AS property, u.id AS unit_id, u.label AS unit,
            l.id AS lease_id, l.tenant_id, t.name AS tenant, l.start_date, l.end_date,
            l.deposit AS agreed, d.in_period AS received_in_period, d.held,
            GREATEST(l.deposit - d.held, 0)::bigint AS outstanding
         FROM leases l JOIN units u ON u.id = l.unit_id JOIN properties p ON p.id = u.property_id
         JOIN tenants t ON t.id = l.tenant_id
         CROSS JOIN LATERAL (
            SELECT COALESCE(SUM(x.amount) FILTER (WHERE x.paid_at >= $3), 0)::bigint AS in_period,
                   COALESCE(SUM(x.amount), 0)::bigint AS held
            FROM payments x WHERE x.lease_id = l.id AND x.status = 'credited'
              AND x.kind = 'deposit' AND x.paid_at < $4) d
         WHERE l.landlord_id = $1 AND ($2::uuid IS NULL OR u.property_id = $2)
           AND l.start_date <= $5
         ORDER BY p.name, p.seq, u.label, l.start_date",
    )
    .bind(landlord)
    .bind(property)
    .bind(period.starts_at())
    .bind(period.ends_at())
    .bind(period.last_day())
    .fetch_all(c)
    .await?;
    let mut t = DepositTotals {
        leases: rows.len() as i64,
        ..Default::default()
    };
    for r in &rows {
        t.agreed += r.agreed;
        t.received_in_period += r.received_in_period;
        t.held += r.held;
        t.outstanding += r.outstanding;
    }
    Ok((rows, t))
}
