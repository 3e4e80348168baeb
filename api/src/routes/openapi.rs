//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and
//! the domain types' schemas, served at `GET /openapi.json`. A few JSON Schema keywords
//! utoipa cannot derive (cross-field rules, links between operations) are added by
//! [`refine`]. This module depends on the route modules, never the other way round.

use super::ApiRoute;
use crate::error::{doc, InvalidParam, Problem};
use serde_json::{json, Value};
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute::get("/openapi.json", openapi_json)]
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "RS256 JWT from the landlords' identity provider (Cognito style); \
                         the landlord is the token's `sub`",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Property Management API",
        description = "Rent, M-Pesa payments, maintenance, expenses, reports and tenant data rights for Kenyan landlords. All money is whole Kenya shillings (integers). Lists are newest first with cursor pagination (`limit`, `cursor` → `next_cursor`). A request that does not match this document is a 400 naming the field; one that matches but cannot be processed (it refers to something missing, dates out of order) is a 422.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(
        super::health::health,
        super::health::ready,
        openapi_json,
        super::landlord::show,
        super::landlord::rotate,
        super::landlord::set_shortcode,
        super::properties::create,
        super::properties::list,
        super::properties::show,
        super::units::create,
        super::units::list,
        super::units::show,
        super::tenants::create,
        super::tenants::list,
        super::tenants::show,
        super::tenants::statement,
        super::tenants::export,
        super::tenants::erase,
        super::leases::create,
        super::leases::list,
        super::leases::show,
        super::leases::arrears,
        super::invoices::list,
        super::invoices::generate,
        super::payments::create,
        super::payments::list,
        super::payments::show,
        super::payments::match_payment,
        super::payments::register_stk,
        super::payments::show_stk,
        super::maintenance::create,
        super::maintenance::list,
        super::maintenance::show,
        super::maintenance::update,
        super::expenses::create,
        super::expenses::list,
        super::expenses::show,
        super::reports::rent_roll,
        super::reports::arrears,
        super::reports::owner_statement,
        super::reports::occupancy,
        super::reports::deposits,
        super::reconciliations::reconcile,
        super::audit::list,
        super::callbacks::c2b_validation,
        super::callbacks::c2b_confirmation,
        super::callbacks::stk_callback,
        super::inbox::list,
        super::inbox::show,
        super::inbox::replay,
        super::inbox::anomalies,
    ),
    components(
        schemas(Problem, InvalidParam, crate::domain::daraja::C2bConfirmation, crate::domain::daraja::StkEnvelope, crate::store::page::Limit, crate::store::page::Cursor, super::reconciliations::Flag, crate::domain::Day, crate::domain::Period),
        responses(doc::BadRequest, doc::Unauthorized, doc::NotFound, doc::Conflict, doc::Unprocessable, doc::Forbidden, doc::Unavailable)
    ),
    tags(
        (name = "health", description = "Liveness and readiness (no token)"),
        (name = "landlord", description = "The landlord's settings"),
        (name = "rentals", description = "Properties, units, tenants, leases, invoices"),
        (name = "payments", description = "Payments, the suspense list, STK push"),
        (name = "maintenance", description = "Maintenance requests per unit"),
        (name = "expenses", description = "Expenses per property"),
        (name = "reports", description = "Reports for a month (JSON, or CSV with `Accept: text/csv`)"),
        (name = "reconciliation", description = "M-Pesa statement reconciliation"),
        (name = "data-rights", description = "Tenant data export, erasure, audit log (Kenya Data Protection Act 2019)"),
        (name = "callbacks", description = "M-Pesa Daraja callbacks (secret token in the path, no JWT)"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The document, as JSON (built once).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("OpenAPI serializes");
        refine(&mut doc);
        doc
    })
}

/// This OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "meta", security(()),
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
async fn openapi_json() -> axum::Json<&'static Value> {
    axum::Json(document())
}

/// Adds what utoipa cannot derive: cross-field rules the server enforces, and links
/// (which operation reads what another created, for clients and stateful testing).
fn refine(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    // PATCH maintenance request: something to change; `cost` only when resolving;
    // `resolved_on` only with a cost.
    let change = &mut schemas["Change"];
    change["minProperties"] = json!(1);
    change["anyOf"] = json!([
        {"required": ["status"]}, {"required": ["assignee"]}, {"required": ["priority"]}
    ]);
    change["dependentRequired"] = json!({"cost": ["status"], "resolved_on": ["cost"]});
    change["dependentSchemas"] = json!({"cost": {"properties": {"status": {"const": "resolved"}}}});
    // A successful STK push carries its metadata: Amount and MpesaReceiptNumber items.
    let named = |name: &str| {
        json!({"contains": {"type": "object", "required": ["Name", "Value"],
        "properties": {"Name": {"const": name}}}})
    };
    schemas["StkCallback"]["if"] =
        json!({"properties": {"ResultCode": {"const": 0}}, "required": ["ResultCode"]});
    schemas["StkCallback"]["then"] = json!({
        "required": ["CallbackMetadata"],
        "properties": {"CallbackMetadata": {"type": "object", "required": ["Item"],
            "properties": {"Item": {"allOf": [named("Amount"), named("MpesaReceiptNumber")]}}}}
    });
    // Items read by name: those we use must hold a readable value.
    let when = |name: &str, value: Value| {
        json!({
            "if": {"properties": {"Name": {"const": name}}, "required": ["Name"]},
            "then": {"properties": {"Value": value}}
        })
    };
    schemas["StkItem"]["allOf"] = json!([
        when(
            "Amount",
            json!({"$ref": "#/components/schemas/PositiveMoney"})
        ),
        when(
            "MpesaReceiptNumber",
            json!({"$ref": "#/components/schemas/Receipt"})
        ),
        when(
            "TransactionDate",
            json!({"anyOf": [
                {"$ref": "#/components/schemas/DarajaTime"},
                {"type": "integer", "minimum": crate::domain::daraja::STK_DATE_MIN,
                 "maximum": crate::domain::daraja::STK_DATE_MAX}
            ]})
        ),
    ]);

    // Callbacks that move money are stored before they are read: any body of any media
    // type, or none, is accepted (and quarantined when it is not the documented shape).
    for path in [
        "/v1/callbacks/c2b/{token}/confirmation",
        "/v1/callbacks/stk/{token}",
    ] {
        let body = &mut doc["paths"][path]["post"]["requestBody"];
        if let Some(media) = body["content"]["application/json"].take().as_object() {
            body["content"] = json!({"*/*": media});
        }
        body["required"] = json!(false);
    }

    // Links: what a create answers is read back by id.
    let links: &[(&str, &str, &str, &str, &str)] = &[
        (
            "/v1/properties",
            "post",
            "201",
            "getProperty",
            "GetProperty",
        ),
        ("/v1/units", "post", "201", "getUnit", "GetUnit"),
        ("/v1/tenants", "post", "201", "getTenant", "GetTenant"),
        ("/v1/leases", "post", "201", "getLease", "GetLease"),
        ("/v1/payments", "post", "201", "getPayment", "GetPayment"),
        (
            "/v1/maintenance-requests",
            "post",
            "201",
            "getMaintenanceRequest",
            "GetMaintenanceRequest",
        ),
        ("/v1/expenses", "post", "201", "getExpense", "GetExpense"),
    ];
    for (path, method, status, target, name) in links {
        doc["paths"][path][method]["responses"][status]["links"] = json!({
            *name: {"operationId": target, "parameters": {"id": "$response.body#/id"}}
        });
    }
    let more: &[(&str, &str, &str, Value)] = &[
        (
            "/v1/stk-requests",
            "post",
            "201",
            json!({"GetStkRequest": {"operationId": "getStkRequest",
            "parameters": {"id": "$response.body#/checkout_request_id"}}}),
        ),
        (
            "/v1/tenants",
            "post",
            "201",
            json!({
            "GetTenantStatement": {"operationId": "getTenantStatement", "parameters": {"id": "$response.body#/id"}},
            "ExportTenant": {"operationId": "exportTenant", "parameters": {"id": "$response.body#/id"}},
            "EraseTenant": {"operationId": "eraseTenant", "parameters": {"id": "$response.body#/id"}}}),
        ),
        (
            "/v1/leases",
            "post",
            "201",
            json!({"GetLeaseArrears": {"operationId": "getLeaseArrears",
            "parameters": {"id": "$response.body#/id"}}}),
        ),
        (
            "/v1/payments",
            "post",
            "201",
            json!({"MatchPayment": {"operationId": "matchPayment",
            "parameters": {"id": "$response.body#/id"}}}),
        ),
        (
            "/v1/maintenance-requests",
            "post",
            "201",
            json!({"UpdateMaintenanceRequest": {
            "operationId": "updateMaintenanceRequest", "parameters": {"id": "$response.body#/id"}}}),
        ),
    ];
    for (path, method, status, l) in more {
        let at = &mut doc["paths"][path][method]["responses"][status]["links"];
        if at.is_null() {
            *at = json!({});
        }
        if let (Some(o), Some(add)) = (at.as_object_mut(), l.as_object()) {
            o.extend(add.clone());
        }
    }
}
