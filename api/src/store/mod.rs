//! SQL (sqlx, PostgreSQL), one module per aggregate. Every query is scoped by landlord.
//! Functions take a connection so handlers decide the transaction boundary (one per write).

pub mod audit;
pub mod expenses;
pub mod inbox;
pub mod landlords;
pub mod ledger;
pub mod maintenance;
pub mod page;
pub mod payments;
pub mod rentals;
pub mod reports;

pub mod health;

pub use page::{Page, PageQuery};

/// Maps a domain enum to the text column that holds it (`as_str` / `parse`), so the store
/// takes and returns enums, never raw strings.
macro_rules! text_enum {
    ($t:ty) => {
        impl sqlx::Type<sqlx::Postgres> for $t {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $t {
            fn decode(v: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&str as sqlx::Decode<sqlx::Postgres>>::decode(v)?;
                <$t>::parse(s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($t)).into())
            }
        }
        impl sqlx::Encode<'_, sqlx::Postgres> for $t {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}

text_enum!(crate::domain::inbox::CallbackKind);
text_enum!(crate::domain::inbox::InboxStatus);
text_enum!(crate::domain::inbox::AnomalyKind);

/// Makes the transaction read-only, seeing one snapshot.
pub async fn read_only_snapshot(c: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(c)
        .await?;
    Ok(())
}
