//! Every resource with a show and a list: how it is keyed, filtered and read.

use super::{uuid_key, Listed, Shown};
use crate::domain::inbox::InboxStatus;
use crate::domain::maintenance::{Priority, Status};
use crate::domain::{CheckoutRequestId, PaymentStatus, Period};
use crate::store::audit::{self, AuditEntry};
use crate::store::expenses::{self, Category, Expense};
use crate::store::inbox::{self, Anomaly, InboxEntry};
use crate::store::maintenance::{self, MaintenanceRequest};
use crate::store::page::{Page, PageBounds};
use crate::store::payments::{self, Payment, StkRecord};
use crate::store::rentals::{self, Invoice, Lease, Property, Tenant, Unit};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// No filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoFilter {}

macro_rules! shown_by_uuid {
    ($ty:ty, $name:literal, $get:path) => {
        impl Shown for $ty {
            const NAME: &'static str = $name;
            type Key = Uuid;

            fn parse_key(raw: &str) -> Option<Uuid> {
                uuid_key(raw)
            }

            async fn get(
                c: &mut PgConnection,
                landlord: &str,
                key: &Uuid,
            ) -> Result<Option<Self>, sqlx::Error> {
                $get(c, landlord, *key).await
            }
        }
    };
}

macro_rules! listed {
    ($ty:ty, $filter:ty, |$c:ident, $l:ident, $f:ident, $p:ident| $list:expr) => {
        impl Listed for $ty {
            type Filter = $filter;

            async fn list(
                $c: &mut PgConnection,
                $l: &str,
                $f: &$filter,
                $p: PageBounds,
            ) -> Result<Page<Self>, sqlx::Error> {
                $list.await
            }
        }
    };
}

shown_by_uuid!(Property, "property", rentals::get_property);
listed!(Property, NoFilter, |c, l, _f, p| rentals::list_properties(
    c, l, p.limit, p.before
));

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UnitFilter {
    /// Only this property's units.
    pub property_id: Option<Uuid>,
}

shown_by_uuid!(Unit, "unit", rentals::get_unit);
listed!(Unit, UnitFilter, |c, l, f, p| rentals::list_units(
    c,
    l,
    f.property_id,
    p.limit,
    p.before
));

shown_by_uuid!(Tenant, "tenant", rentals::get_tenant);
listed!(Tenant, NoFilter, |c, l, _f, p| rentals::list_tenants(
    c, l, p.limit, p.before
));

shown_by_uuid!(Lease, "lease", rentals::get_lease);
listed!(Lease, NoFilter, |c, l, _f, p| rentals::list_leases(
    c, l, p.limit, p.before
));

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceFilter {
    pub lease_id: Option<Uuid>,
    /// Only this month's invoices.
    pub period: Option<Period>,
}

listed!(Invoice, InvoiceFilter, |c, l, f, p| rentals::list_invoices(
    c, l, f.lease_id, f.period, p.limit, p.before
));

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PaymentFilter {
    /// `unmatched` = the suspense list.
    #[param(inline)]
    pub status: Option<PaymentStatus>,
    pub lease_id: Option<Uuid>,
}

shown_by_uuid!(Payment, "payment", payments::get);
listed!(Payment, PaymentFilter, |c, l, f, p| payments::list(
    c, l, f.status, f.lease_id, p.limit, p.before
));

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceFilter {
    #[param(inline)]
    pub status: Option<Status>,
    #[param(inline)]
    pub priority: Option<Priority>,
    pub property_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
}

shown_by_uuid!(MaintenanceRequest, "maintenance request", maintenance::get);
listed!(MaintenanceRequest, MaintenanceFilter, |c, l, f, p| {
    maintenance::list(
        c,
        l,
        &maintenance::Filter {
            status: f.status,
            priority: f.priority,
            property_id: f.property_id,
            unit_id: f.unit_id,
        },
        p.limit,
        p.before,
    )
});

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExpenseFilter {
    pub property_id: Option<Uuid>,
    /// Expenses spent in this month.
    pub period: Option<Period>,
    #[param(inline)]
    pub category: Option<Category>,
}

shown_by_uuid!(Expense, "expense", expenses::get);
listed!(Expense, ExpenseFilter, |c, l, f, p| expenses::list(
    c,
    l,
    &expenses::Filter {
        property_id: f.property_id,
        period: f.period,
        category: f.category,
    },
    p.limit,
    p.before
));

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Only entries about this subject (e.g. a tenant id).
    pub subject_id: Option<Uuid>,
}

listed!(AuditEntry, AuditFilter, |c, l, f, p| audit::list(
    c,
    l,
    f.subject_id,
    p.limit,
    p.before
));

impl Shown for StkRecord {
    const NAME: &'static str = "stk request";
    type Key = CheckoutRequestId;

    fn parse_key(raw: &str) -> Option<CheckoutRequestId> {
        CheckoutRequestId::parse(raw)
    }

    async fn get(
        c: &mut PgConnection,
        landlord: &str,
        key: &CheckoutRequestId,
    ) -> Result<Option<Self>, sqlx::Error> {
        payments::get_stk(c, landlord, key.as_str()).await
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxFilter {
    /// `quarantined` = the callbacks that could not be read.
    #[param(inline)]
    pub status: Option<InboxStatus>,
}

shown_by_uuid!(InboxEntry, "callback", inbox::get);
listed!(InboxEntry, InboxFilter, |c, l, f, p| inbox::list(
    c, l, f.status, p.limit, p.before
));

listed!(Anomaly, NoFilter, |c, l, _f, p| inbox::list_anomalies(
    c, l, p.limit, p.before
));
