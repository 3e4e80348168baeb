//! Reports for a month, each read in one snapshot.

use super::read_snapshot;
use crate::domain::Period;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::reports::{self, ArrearsRow, DepositRow, OccupancyRow, RentRollRow};
use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

#[derive(Serialize, utoipa::ToSchema)]
pub struct RentRoll {
    pub period: String,
    pub property_id: Option<Uuid>,
    pub rows: Vec<RentRollRow>,
    pub totals: reports::RentRollTotals,
}

pub async fn rent_roll(
    st: &AppState,
    me: &str,
    period: Period,
    property: Option<Uuid>,
) -> Result<RentRoll, ApiError> {
    let mut c = read_snapshot(st).await?;
    let (rows, totals) = reports::rent_roll(&mut c, me, period, property).await?;
    Ok(RentRoll {
        period: period.to_string(),
        property_id: property,
        rows,
        totals,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ArrearsAging {
    pub period: String,
    pub as_of: NaiveDate,
    pub property_id: Option<Uuid>,
    pub rows: Vec<ArrearsRow>,
    pub totals: reports::ArrearsTotals,
}

pub async fn arrears(
    st: &AppState,
    me: &str,
    period: Period,
    as_of: Option<NaiveDate>,
    property: Option<Uuid>,
) -> Result<ArrearsAging, ApiError> {
    let as_of = as_of.unwrap_or_else(|| period.last_day());
    let mut c = read_snapshot(st).await?;
    let (rows, totals) = reports::arrears(&mut c, me, as_of, property).await?;
    Ok(ArrearsAging {
        period: period.to_string(),
        as_of,
        property_id: property,
        rows,
        totals,
    })
}

pub async fn owner_statement(
    st: &AppState,
    me: &str,
    period: Period,
    property: Option<Uuid>,
) -> Result<reports::OwnerStatement, ApiError> {
    let mut c = read_snapshot(st).await?;
    Ok(reports::owner_statement(&mut c, me, period, property, st.mri_rate_bp).await?)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Occupancy {
    pub period: String,
    pub property_id: Option<Uuid>,
    pub rows: Vec<OccupancyRow>,
    pub totals: reports::OccupancyTotals,
}

pub async fn occupancy(
    st: &AppState,
    me: &str,
    period: Period,
    property: Option<Uuid>,
) -> Result<Occupancy, ApiError> {
    let mut c = read_snapshot(st).await?;
    let (rows, totals) = reports::occupancy(&mut c, me, period, property).await?;
    Ok(Occupancy {
        period: period.to_string(),
        property_id: property,
        rows,
        totals,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DepositRegister {
    pub period: String,
    pub property_id: Option<Uuid>,
    pub rows: Vec<DepositRow>,
    pub totals: reports::DepositTotals,
}

pub async fn deposits(
    st: &AppState,
    me: &str,
    period: Period,
    property: Option<Uuid>,
) -> Result<DepositRegister, ApiError> {
    let mut c = read_snapshot(st).await?;
    let (rows, totals) = reports::deposits(&mut c, me, period, property).await?;
    Ok(DepositRegister {
        period: period.to_string(),
        property_id: property,
        rows,
        totals,
    })
}
