//! M-Pesa Daraja callback payloads (C2B validation and confirmation, STK push results) and
//! what they mean. Parsing is strict where we use a value and lenient where we do not:
//! fields we ignore (names, masked MSISDN, balances) and fields Daraja may add are
//! accepted, so nothing a real Daraja payload contains is refused.

use super::calendar::{daraja_time, DARAJA_TIME_PATTERN};
use super::payment::{CheckoutRequestId, Receipt};
use super::{Kes, PositiveKes};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Text Daraja sends that we keep or ignore (descriptions, names): any string without NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DarajaText(pub String);

impl<'de> Deserialize<'de> for DarajaText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.contains('\0') {
            return Err(serde::de::Error::custom(super::text::CONTROL_CHARS));
        }
        Ok(DarajaText(s))
    }
}

super::schema::schema_of!(
    DarajaText,
    "DarajaText",
    super::schema::string("Text as Daraja sends it (no NUL).")
        .pattern(Some(r"^[^\u0000]*$"))
        .into()
);

/// A Daraja timestamp `YYYYMMDDHHmmss` (East Africa Time), as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DarajaTime(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for DarajaTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        daraja_time(&s)
            .map(DarajaTime)
            .ok_or_else(|| serde::de::Error::custom("must be a timestamp YYYYMMDDHHmmss"))
    }
}

super::schema::schema_of!(
    DarajaTime,
    "DarajaTime",
    super::schema::string("A time YYYYMMDDHHmmss, East Africa Time (UTC+3).")
        .pattern(Some(DARAJA_TIME_PATTERN))
        .examples(["20260205093000"])
        .into()
);

/// C2B validation request: only the amount and the account number are read, and a value
/// that cannot be read is a rejection (`C2B00013` / `C2B00012`), not an error.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(example = json!({
    "TransactionType": "Pay Bill", "TransID": "SBK1A2B3C4", "TransTime": "20260205093000",
    "TransAmount": "10000.00", "BusinessShortCode": "600984", "BillRefNumber": "A-101",
    "InvoiceNumber": "", "OrgAccountBalance": "", "ThirdPartyTransID": "",
    "MSISDN": "2547 ***** 126", "FirstName": "WANJIRU", "MiddleName": "", "LastName": "KAMAU"
}))]
pub struct C2bValidation {
    /// Whole shillings, usually a decimal string ("1500.00"); anything else is rejected
    /// with `C2B00013`.
    pub trans_amount: Option<serde_json::Value>,
    /// The account number the payer typed; an unknown one is rejected with `C2B00012`.
    pub bill_ref_number: Option<DarajaText>,
}

impl C2bValidation {
    /// The amount, when it is readable and more than zero.
    pub fn amount(&self) -> Option<Kes> {
        self.trans_amount
            .as_ref()
            .and_then(|v| Kes::from_json(v).ok())
            .filter(|a| !a.is_zero())
    }
}

/// C2B confirmation: a payment made to the paybill. Fields not listed here are accepted
/// and ignored (MSISDN arrives masked or hashed and is never used, stored or logged).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(example = json!({
    "TransactionType": "Pay Bill", "TransID": "SBK1A2B3C4", "TransTime": "20260205093000",
    "TransAmount": "10000.00", "BusinessShortCode": "600984", "BillRefNumber": "A-101",
    "InvoiceNumber": "", "OrgAccountBalance": "49197.00", "ThirdPartyTransID": "",
    "MSISDN": "2547 ***** 126", "FirstName": "WANJIRU", "MiddleName": "", "LastName": "KAMAU"
}))]
pub struct C2bConfirmation {
    /// The M-Pesa receipt: the payment's identity (a duplicate is ignored).
    #[serde(rename = "TransID")]
    pub trans_id: Receipt,
    pub trans_time: DarajaTime,
    /// Whole shillings, e.g. "1500.00".
    pub trans_amount: PositiveKes,
    /// The account number the payer typed (matched to a unit; else the payment waits in
    /// the suspense list).
    pub bill_ref_number: Option<DarajaText>,
}

/// A C2B payment to record.
#[derive(Debug, Clone)]
pub struct C2bPayment {
    pub receipt: Receipt,
    pub amount: Kes,
    pub paid_at: DateTime<Utc>,
    /// Trimmed, at most 40 characters.
    pub bill_ref: Option<String>,
}

impl C2bConfirmation {
    pub fn payment(self) -> C2bPayment {
        C2bPayment {
            receipt: self.trans_id,
            amount: self.trans_amount.kes(),
            paid_at: self.trans_time.0,
            bill_ref: self
                .bill_ref_number
                .map(|s| s.0.trim().chars().take(40).collect()),
        }
    }
}

/// STK push result envelope.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"Body": {"stkCallback": {
    "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_191220191020363925",
    "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
    "CallbackMetadata": {"Item": [
        {"Name": "Amount", "Value": 1.00},
        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
        {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": 20191219102115u64},
        {"Name": "PhoneNumber", "Value": 254708374149u64}
    ]}}}}))]
pub struct StkEnvelope {
    #[serde(rename = "Body")]
    pub body: StkBody,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StkBody {
    #[serde(rename = "stkCallback")]
    pub stk_callback: StkCallback,
}

/// ResultCode 0 = paid (then `CallbackMetadata` carries `Amount` and
/// `MpesaReceiptNumber`); anything else (1032 cancelled, 1037 timeout, …) is recorded,
/// never credited.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StkCallback {
    #[serde(rename = "MerchantRequestID")]
    pub merchant_request_id: Option<DarajaText>,
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: CheckoutRequestId,
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    pub result_code: i32,
    pub result_desc: Option<DarajaText>,
    pub callback_metadata: Option<StkMetadata>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StkMetadata {
    #[serde(rename = "Item")]
    pub item: Vec<StkItem>,
}

/// One metadata item, read by `Name` (never by position).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StkItem {
    #[serde(rename = "Name")]
    pub name: DarajaText,
    /// A number (`Amount` 1.00, `TransactionDate` 20191219102115) or a string
    /// (`MpesaReceiptNumber`); absent for some items (`Balance`).
    #[serde(rename = "Value")]
    pub value: Option<StkValue>,
}

/// An item's value: a JSON number or string.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StkValue {
    #[schema(value_type = f64)]
    Number(serde_json::Number),
    #[schema(value_type = DarajaText)]
    Text(DarajaText),
}

/// What an STK callback reports.
#[derive(Debug, Clone)]
pub enum StkOutcome {
    Paid {
        amount: Kes,
        receipt: Receipt,
        paid_at: DateTime<Utc>,
    },
    Failed,
}

/// Smallest and largest `TransactionDate` as a number (`YYYYMMDDHHmmss`).
pub const STK_DATE_MIN: i64 = 10000101000000;
pub const STK_DATE_MAX: i64 = 99991231235959;

/// Why an STK callback cannot be taken: (field path, reason, whether the document's
/// schema says so — a 400 — or only the calendar does — a 422).
pub type StkError = (&'static str, String, bool);

impl StkCallback {
    fn item(&self, name: &str) -> Option<&StkValue> {
        self.callback_metadata
            .as_ref()?
            .item
            .iter()
            .find(|i| i.name.0 == name)
            .and_then(|i| i.value.as_ref())
    }

    /// Reads the outcome; `now` stands in for a missing `TransactionDate`.
    pub fn outcome(&self, now: DateTime<Utc>) -> Result<StkOutcome, StkError> {
        const MD: &str = "Body.stkCallback.CallbackMetadata";
        if self.result_code != 0 {
            return Ok(StkOutcome::Failed);
        }
        if self.callback_metadata.is_none() {
            return Err((MD, "is required when ResultCode is 0".into(), true));
        }
        let amount = match self.item("Amount") {
            None => {
                return Err((
                    MD,
                    "must have an Amount item when ResultCode is 0".into(),
                    true,
                ))
            }
            Some(StkValue::Number(n)) => Kes::from_json(&serde_json::Value::Number(n.clone())),
            Some(StkValue::Text(t)) => Kes::parse(&t.0),
        }
        .map_err(|e| (MD, format!("Amount {e}"), true))?;
        let amount = PositiveKes::new(amount)
            .map_err(|e| (MD, format!("Amount {e}"), true))?
            .kes();
        let receipt = match self.item("MpesaReceiptNumber") {
            Some(StkValue::Text(t)) => Receipt::parse(&t.0),
            _ => None,
        }
        .ok_or((
            MD,
            "must have a MpesaReceiptNumber item (1 to 30 letters or digits) when ResultCode is 0"
                .into(),
            true,
        ))?;
        let paid_at = match self.item("TransactionDate") {
            None => now,
            Some(StkValue::Text(t)) => daraja_time(&t.0).ok_or((
                MD,
                "TransactionDate must be a timestamp YYYYMMDDHHmmss".into(),
                true,
            ))?,
            Some(StkValue::Number(n)) => {
                let v = n
                    .as_i64()
                    .filter(|v| (STK_DATE_MIN..=STK_DATE_MAX).contains(v))
                    .ok_or((
                        MD,
                        "TransactionDate must be a timestamp YYYYMMDDHHmmss".into(),
                        true,
                    ))?;
                daraja_time(&v.to_string()).ok_or((
                    MD,
                    "TransactionDate is not a real time (YYYYMMDDHHmmss)".into(),
                    false,
                ))?
            }
        };
        Ok(StkOutcome::Paid {
            amount,
            receipt,
            paid_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cb(v: serde_json::Value) -> StkCallback {
        serde_json::from_value::<StkEnvelope>(v)
            .unwrap()
            .body
            .stk_callback
    }

    #[test]
    fn stk_values_may_be_numbers_or_strings() {
        let c = cb(
            json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0,
            "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": "5000.00"},
                {"Name": "MpesaReceiptNumber", "Value": "nlj7rt61sv"},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": "20260206102115"}]}}}}),
        );
        match c.outcome(Utc::now()).unwrap() {
            StkOutcome::Paid {
                amount, receipt, ..
            } => {
                assert_eq!(amount.shillings(), 5000);
                assert_eq!(receipt.as_str(), "NLJ7RT61SV");
            }
            other => panic!("{other:?}"),
        }
        let c = cb(
            json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0,
            "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": 5000},
                {"Name": "MpesaReceiptNumber", "Value": "X1"},
                {"Name": "TransactionDate", "Value": 20260230102115u64}]}}}}),
        );
        assert!(!c.outcome(Utc::now()).unwrap_err().2, "not a real day: 422");
    }
}
