//! M-Pesa paybill statements as exported (CSV) from the M-PESA org portal.
//!
//! The export starts with a preamble (organisation, short code, time period …), then a
//! header row, then one row per transaction. Columns are found by name in the header row
//! (`Receipt No.`, `Completion Time`, `Transaction Status`, `Paid In`, `A/C No.`; order free,
//! extra columns ignored). Amounts are written like `"1,500.00"`; times are East Africa Time.
//! `Other Party Info` and `Details` name the payer: they are personal data and are never
//! read into errors (errors name a line and a column, never a value).

use super::period::eat;
use super::Kes;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use std::collections::HashSet;
use std::fmt;

/// A money-in row of the statement: a receipt the landlord was paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Line of the file (1-based) the row is on.
    pub line: u64,
    pub receipt: String,
    pub completed_at: DateTime<Utc>,
    pub amount: Kes,
    /// `A/C No.`: the account reference the payer typed.
    pub account_ref: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statement {
    /// Transaction rows (money in and out, any status).
    pub rows: usize,
    /// Completed rows with money paid in.
    pub receipts: Vec<Receipt>,
    /// Earliest and latest completion time of any transaction row: the time range the
    /// statement covers.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Where and why a statement cannot be read. Never carries a cell's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementError {
    /// 1-based line of the file.
    pub line: u64,
    /// 1-based column and its header name, when the problem is in one cell.
    pub column: Option<(usize, &'static str)>,
    pub reason: &'static str,
}

impl fmt::Display for StatementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some((i, name)) => write!(
                f,
                "line {}, column {} ({}): {}",
                self.line, i, name, self.reason
            ),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

const RECEIPT: &str = "Receipt No.";
const COMPLETION: &str = "Completion Time";
const STATUS: &str = "Transaction Status";
const PAID_IN: &str = "Paid In";
const ACCOUNT: &str = "A/C No.";
const DETAILS: &str = "Details";

/// Header names as written, lower-cased, without trailing dots/colons and inner spaces
/// collapsed, mapped to our canonical column.
fn canonical(cell: &str) -> Option<&'static str> {
    let n: String = cell
        .trim()
        .trim_start_matches('\u{feff}')
        .trim_end_matches(['.', ':'])
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Some(match n.as_str() {
        "receipt no" | "receipt number" | "receipt" | "transaction id" => RECEIPT,
        "completion time" | "completion date" | "completed time" => COMPLETION,
        "transaction status" | "status" => STATUS,
        "paid in" => PAID_IN,
        "a/c no" | "account no" | "account number" | "a/c number" => ACCOUNT,
        "details" => DETAILS,
        _ => return None,
    })
}

struct Columns {
    receipt: usize,
    completion: usize,
    paid_in: usize,
    status: Option<usize>,
    account: Option<usize>,
    details: Option<usize>,
}

impl Columns {
    /// The header row: the first row naming at least the receipt, completion time and
    /// paid-in columns.
    fn find(record: &csv::StringRecord) -> Option<Columns> {
        let mut found: Vec<(&'static str, usize)> = Vec::new();
        for (i, cell) in record.iter().enumerate() {
            if let Some(c) = canonical(cell) {
                if !found.iter().any(|(n, _)| *n == c) {
                    found.push((c, i));
                }
            }
        }
        let get = |name: &str| found.iter().find(|(n, _)| *n == name).map(|(_, i)| *i);
        Some(Columns {
            receipt: get(RECEIPT)?,
            completion: get(COMPLETION)?,
            paid_in: get(PAID_IN)?,
            status: get(STATUS),
            account: get(ACCOUNT),
            details: get(DETAILS),
        })
    }
}

/// Completion times as the portal writes them (several locales), East Africa Time.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    const FORMATS: [&str; 8] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%d-%m-%Y %H:%M:%S",
        "%d/%m/%Y %H:%M:%S",
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%d-%m-%Y %H:%M",
        "%d/%m/%Y %H:%M",
    ];
    let s = s.trim();
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .and_then(|n| eat().from_local_datetime(&n).single())
        .map(|t| t.with_timezone(&Utc))
}

/// `"1,500.00"`, `1500`, `"KES 1,500.00"` → 1500 shillings. Empty → None.
fn parse_amount(s: &str) -> Result<Option<Kes>, &'static str> {
    let t: String = s
        .trim()
        .trim_start_matches("KES")
        .trim_start_matches("Ksh")
        .chars()
        .filter(|c| *c != ',' && !c.is_whitespace())
        .collect();
    if t.is_empty() {
        return Ok(None);
    }
    match Kes::parse(&t) {
        Ok(k) => Ok(Some(k)),
        Err(super::MoneyError::Fractional) => {
            Err("amount has a fraction of a shilling; paybill receipts are whole shillings")
        }
        Err(_) => Err("not an amount such as 1,500.00"),
    }
}

fn receipt_no(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t.len() <= 30 && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| t.to_ascii_uppercase())
}

/// `Details` such as "Pay Bill from 2547… - NAME Acc. A-101": the text after `Acc.`.
fn account_from_details(s: &str) -> Option<String> {
    let i = s.rfind("Acc.")?;
    let a = s[i + 4..].trim();
    (!a.is_empty()).then(|| a.chars().take(40).collect())
}

/// The 1-based line a record starts on. The csv crate's own line numbers are unreliable
/// across CRLF and blank lines, and its byte offset may point at the previous line's
/// terminator: skip terminators, then count the newlines before.
fn line_at(bytes: &[u8], offset: u64) -> u64 {
    let mut start = (offset as usize).min(bytes.len());
    while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
        start += 1;
    }
    1 + bytes[..start].iter().filter(|b| **b == b'\n').count() as u64
}

/// Parses a whole statement. Any unreadable cell in a column we use fails the whole file.
pub fn parse(bytes: &[u8]) -> Result<Statement, StatementError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut cols: Option<Columns> = None;
    let mut out = Statement::default();
    let mut seen = HashSet::new();
    let mut record = csv::StringRecord::new();
    loop {
        let before = rdr.position().byte();
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = line_at(bytes, e.position().map_or(before, |p| p.byte()));
                let reason = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "not UTF-8 text",
                    _ => "not CSV",
                };
                return Err(StatementError {
                    line,
                    column: None,
                    reason,
                });
            }
        }
        let line = line_at(bytes, record.position().map_or(before, |p| p.byte()));
        let Some(c) = &cols else {
            cols = Columns::find(&record);
            continue;
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let cell = |i: usize, name: &'static str| {
            record.get(i).ok_or(StatementError {
                line,
                column: Some((i + 1, name)),
                reason: "missing (the row is shorter than the header)",
            })
        };
        let bad = |i: usize, name: &'static str, reason: &'static str| StatementError {
            line,
            column: Some((i + 1, name)),
            reason,
        };
        let receipt = receipt_no(cell(c.receipt, RECEIPT)?)
            .ok_or_else(|| bad(c.receipt, RECEIPT, "not an M-Pesa receipt number"))?;
        let completed_at = parse_time(cell(c.completion, COMPLETION)?).ok_or_else(|| {
            bad(
                c.completion,
                COMPLETION,
                "not a time such as 2026-02-05 09:30:00",
            )
        })?;
        let paid_in =
            parse_amount(cell(c.paid_in, PAID_IN)?).map_err(|r| bad(c.paid_in, PAID_IN, r))?;
        out.rows += 1;
        out.from = Some(out.from.map_or(completed_at, |f| f.min(completed_at)));
        out.to = Some(out.to.map_or(completed_at, |t| t.max(completed_at)));
        let completed = match c.status {
            Some(i) => record
                .get(i)
                .map(|s| s.trim().eq_ignore_ascii_case("completed"))
                .unwrap_or(false),
            None => true,
        };
        let amount = match paid_in {
            Some(a) if completed && !a.is_zero() => a,
            _ => continue,
        };
        if !seen.insert(receipt.clone()) {
            return Err(bad(
                c.receipt,
                RECEIPT,
                "the same receipt is paid in twice in this statement",
            ));
        }
        let account_ref = c
            .account
            .and_then(|i| record.get(i))
            .map(|s| s.trim().chars().take(40).collect::<String>())
            .filter(|s| !s.is_empty())
            .or_else(|| {
                c.details
                    .and_then(|i| record.get(i))
                    .and_then(account_from_details)
            });
        out.receipts.push(Receipt {
            line,
            receipt,
            completed_at,
            amount,
            account_ref,
        });
    }
    if cols.is_none() {
        return Err(StatementError {
            line: 1,
            column: None,
            reason: "no header row naming the columns Receipt No., Completion Time and Paid In",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = "\u{feff}Account Holder:,600984 - Kilimani Estates Ltd,,\n\
Short Code:,600984\n\
Time Period:,From 01-02-2026 00:00:00 To 28-02-2026 23:59:59\n\
\n\
Linked Transaction ID,Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Other Party Info,A/C No.\n\
,SBK1A2B3C4,2026-02-05 09:30:00,2026-02-05 09:29:58,Pay Bill from 2547****126 - W K Acc. A-101,Completed,\"25,000.00\",,\"125,000.00\",254712***678 - WANJIRU KAMAU,A-101\n\
,SBK1A2B3C5,05-02-2026 10:00:00,,Business charges,Completed,,-55.50,\"124,944.50\",,\n\
,SBK1A2B3C6,2026-02-06 11:00:00,,Pay Bill from x,Failed,\"1,000.00\",,,,A-102\n\
,SBK1A2B3C7,2026-02-07 12:00:00,,Pay Bill from y Acc. b-7,Completed,500,,,,\n";

    #[test]
    fn reads_the_portal_export() {
        let s = parse(EXPORT.as_bytes()).unwrap();
        assert_eq!(s.rows, 4);
        assert_eq!(s.receipts.len(), 2, "{s:?}");
        let r = &s.receipts[0];
        assert_eq!(r.line, 6);
        assert_eq!(r.receipt, "SBK1A2B3C4");
        assert_eq!(r.amount, Kes::new(25_000).unwrap());
        assert_eq!(r.account_ref.as_deref(), Some("A-101"));
        assert_eq!(r.completed_at.to_rfc3339(), "2026-02-05T06:30:00+00:00");
        assert_eq!(s.receipts[1].account_ref.as_deref(), Some("b-7"));
        assert_eq!(s.from.unwrap().to_rfc3339(), "2026-02-05T06:30:00+00:00");
        assert_eq!(s.to.unwrap().to_rfc3339(), "2026-02-07T09:00:00+00:00");
    }

    #[test]
    fn errors_name_line_and_column_never_the_value() {
        let bad = EXPORT.replace("\"25,000.00\"", "\"25,000.50\"");
        let e = parse(bad.as_bytes()).unwrap_err();
        assert_eq!((e.line, e.column), (6, Some((7, "Paid In"))));
        let bad = EXPORT.replace("2026-02-07 12:00:00", "yesterday");
        let e = parse(bad.as_bytes()).unwrap_err();
        assert_eq!((e.line, e.column), (9, Some((3, "Completion Time"))));
        assert!(!e.to_string().contains("yesterday"));
        let bad = EXPORT.replace("SBK1A2B3C7", "SBK1A2B3C4");
        let e = parse(bad.as_bytes()).unwrap_err();
        assert_eq!((e.line, e.column), (9, Some((2, "Receipt No."))));
        let e = parse(b"just,some\ntext,here\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, None));
        let e =
            parse(b"Receipt No.,Completion Time,Paid In\nSBK1,2026-02-05 09:30:00\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, Some((3, "Paid In"))));
        let mut not_utf8 = b"Receipt No.,Completion Time,Paid In\n".to_vec();
        not_utf8.extend_from_slice(b"SBK1,2026-02-05 09:30:00,\xff\xfe\n");
        let e = parse(&not_utf8).unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn line_numbers_survive_crlf_blank_lines_and_quoted_newlines() {
        let crlf = EXPORT.replace('\n', "\r\n");
        let s = parse(crlf.as_bytes()).unwrap();
        assert_eq!(
            s.receipts.iter().map(|r| r.line).collect::<Vec<_>>(),
            [6, 9]
        );
        let multi = "Receipt No.,Details,Completion Time,Paid In\r\n\r\nA1,\"two\r\nlines\",2026-02-05 09:30:00,1\r\nA2,x,2026-02-05 09:30:00,2\r\nA3,x,bad,3\r\n";
        let e = parse(multi.as_bytes()).unwrap_err();
        assert_eq!((e.line, e.column), (6, Some((3, "Completion Time"))));
        let s = parse(&multi.as_bytes()[..multi.find("A3").unwrap()]).unwrap();
        assert_eq!(
            s.receipts.iter().map(|r| r.line).collect::<Vec<_>>(),
            [3, 5]
        );
    }

    #[test]
    fn column_order_and_extra_columns_do_not_matter() {
        let s = parse(
            b"Paid In,Extra,A/C No,Completion Time,Receipt No\n\"1,500.00\",x,C-1,2026-02-05 09:30:00,abc123\n",
        )
        .unwrap();
        assert_eq!(s.receipts[0].receipt, "ABC123");
        assert_eq!(s.receipts[0].amount, Kes::new(1_500).unwrap());
        assert_eq!(s.receipts[0].account_ref.as_deref(), Some("C-1"));
    }
}
