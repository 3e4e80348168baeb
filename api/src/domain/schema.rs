//! Small builders for the JSON Schemas of domain types, so each type's schema sits beside
//! the parser it describes (one place for a rule, read by the server and the document).

use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// Characters every text field refuses (C0 and C1 controls), in JSON Schema regex syntax.
pub const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";

/// A string schema.
pub fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// An integer schema bounded by `min..=max`.
pub fn integer(description: &str, min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some(description))
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
}

/// Either of two schemas (disjoint JSON types).
pub fn either(description: &str, a: ObjectBuilder, b: ObjectBuilder) -> RefOr<Schema> {
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(a)
            .item(b)
            .description(Some(description))
            .build(),
    )
    .into()
}

/// Implements `utoipa::ToSchema` for a domain type from a schema function.
macro_rules! schema_of {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema
            }
        }
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}
pub(crate) use schema_of;
