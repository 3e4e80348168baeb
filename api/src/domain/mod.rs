//! Pure domain logic: no I/O. Values are parsed at the edge into these types so handlers
//! never validate raw strings; each type also states its rule as a JSON Schema (the
//! OpenAPI document is built from them, so the document and the server agree).

pub mod aging;
pub mod allocation;
pub mod calendar;
pub mod daraja;
pub mod idempotency;
pub mod inbox;
pub mod maintenance;
pub mod money;
pub mod mpesa_statement;
pub mod payment;
pub mod period;
pub mod phone;
pub mod rental;
pub mod schema;
pub mod tax;
pub mod text;

pub use allocation::{allocate, Allocation, OpenInvoice};
pub use calendar::{Day, Instant};
pub use money::{Kes, MoneyError, PositiveKes};
pub use payment::{
    CheckoutRequestId, IdempotencyKey, ManualMethod, PaymentKind, PaymentMethod, PaymentStatus,
    Receipt,
};
pub use period::{eat, eat_day_start, eat_today, Period};
pub use phone::Msisdn;
pub use rental::{AccountRef, DueDay, NationalId, Shortcode, Usage};
