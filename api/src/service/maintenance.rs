//! Maintenance requests and expenses. Resolving a request with a cost records the cost as
//! an expense of the unit's property in the same transaction.

use super::begin_write;
use crate::domain::maintenance::{Priority, Status};
use crate::domain::text::{Paragraph, Text200, Text500};
use crate::domain::{Day, PositiveKes};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::expenses::{self, Category};
use crate::store::{maintenance, rentals};
use uuid::Uuid;

pub struct NewRequest {
    pub unit_id: Uuid,
    pub title: Text200,
    pub description: Option<Paragraph>,
    pub priority: Priority,
    pub assignee: Option<Text200>,
}

pub async fn open(
    st: &AppState,
    me: &str,
    r: NewRequest,
) -> Result<maintenance::MaintenanceRequest, ApiError> {
    let mut tx = begin_write(st, me).await?;
    if rentals::get_unit(&mut tx, me, r.unit_id).await?.is_none() {
        return Err(ApiError::unprocessable_field("unit_id", "no such unit"));
    }
    let m = maintenance::insert(
        &mut tx,
        me,
        &maintenance::NewRequest {
            unit_id: r.unit_id,
            title: r.title.as_str(),
            description: r.description.as_ref().map(Paragraph::as_str),
            priority: r.priority,
            assignee: r.assignee.as_ref().map(Text200::as_str),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(m)
}

/// A change to a request. The document's schema already enforces the field rules (some
/// field given, `cost` only when resolving, `resolved_on` only with a cost).
pub struct Change {
    pub status: Option<Status>,
    /// `Some(None)` clears the assignee.
    pub assignee: Option<Option<Text200>>,
    pub priority: Option<Priority>,
    pub cost: Option<PositiveKes>,
    pub resolved_on: Option<Day>,
}

pub async fn change(
    st: &AppState,
    me: &str,
    id: Uuid,
    b: Change,
) -> Result<maintenance::MaintenanceRequest, ApiError> {
    let mut tx = begin_write(st, me).await?;
    let (current, property, title) = maintenance::lock(&mut tx, me, id)
        .await?
        .ok_or(ApiError::NotFound("maintenance request"))?;
    if let Some(next) = b.status {
        if !current.can_become(next) {
            return Err(ApiError::conflict_field(
                "status",
                format!("a request that is {current} cannot become {next}"),
            ));
        }
    } else if current.is_closed() {
        return Err(ApiError::conflict_field(
            "status",
            format!("the request is {current}; closed requests do not change"),
        ));
    }
    let expense = match b.cost {
        Some(cost) => Some(
            expenses::insert(
                &mut tx,
                me,
                &expenses::NewExpense {
                    property_id: property,
                    category: Category::Maintenance,
                    amount: cost.shillings(),
                    spent_on: b.resolved_on.map_or_else(crate::domain::eat_today, |d| d.0),
                    note: Some(&title),
                },
            )
            .await?,
        ),
        None => None,
    };
    maintenance::update(
        &mut tx,
        me,
        id,
        &maintenance::Change {
            status: b.status,
            assignee: b.assignee.as_ref().map(|a| a.as_ref().map(Text200::as_str)),
            priority: b.priority,
            cost: b.cost.map(|c| c.shillings()),
            expense_id: expense.as_ref().map(|e| e.id),
        },
    )
    .await?;
    let r = maintenance::get(&mut tx, me, id)
        .await?
        .ok_or(ApiError::NotFound("maintenance request"))?;
    tx.commit().await?;
    if let Some(s) = b.status {
        tracing::info!(request = %id, from = %current, to = %s, "maintenance request moved");
    }
    Ok(r)
}

pub struct NewExpense {
    pub property_id: Uuid,
    pub category: Category,
    pub amount: PositiveKes,
    pub spent_on: Day,
    pub note: Option<Text500>,
}

pub async fn record_expense(
    st: &AppState,
    me: &str,
    e: NewExpense,
) -> Result<expenses::Expense, ApiError> {
    let mut tx = begin_write(st, me).await?;
    if rentals::get_property(&mut tx, me, e.property_id)
        .await?
        .is_none()
    {
        return Err(ApiError::unprocessable_field(
            "property_id",
            "no such property",
        ));
    }
    let x = expenses::insert(
        &mut tx,
        me,
        &expenses::NewExpense {
            property_id: e.property_id,
            category: e.category,
            amount: e.amount.shillings(),
            spent_on: e.spent_on.0,
            note: e.note.as_ref().map(Text500::as_str),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(x)
}
