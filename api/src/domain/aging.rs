//! Arrears aging: what a lease owes on a day, split by how long it has been overdue.

use chrono::NaiveDate;
use serde::Serialize;

/// Overdue rent in buckets of days past the due date: 1–30 (`d0_30`), 31–60, 61–90, over
/// 90. An invoice due on the day itself is not yet overdue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Buckets {
    pub d0_30: i64,
    pub d31_60: i64,
    pub d61_90: i64,
    pub d90_plus: i64,
}

impl Buckets {
    pub fn total(&self) -> i64 {
        self.d0_30 + self.d31_60 + self.d61_90 + self.d90_plus
    }

    pub fn add(&mut self, o: &Buckets) {
        self.d0_30 += o.d0_30;
        self.d31_60 += o.d31_60;
        self.d61_90 += o.d61_90;
        self.d90_plus += o.d90_plus;
    }
}

/// Ages `invoices` (due date, amount) on `as_of`, given `paid`: all rent paid up to and
/// including `as_of`. Payments settle the oldest invoice first (as allocation does), so
/// what is left unpaid is the newest part of the debt.
pub fn age(invoices: &[(NaiveDate, i64)], paid: i64, as_of: NaiveDate) -> Buckets {
    let mut order: Vec<(NaiveDate, i64)> = invoices.to_vec();
    order.sort_by_key(|i| i.0);
    let mut left = paid.max(0);
    let mut b = Buckets::default();
    for (due, amount) in order {
        let covered = left.min(amount);
        left -= covered;
        let owed = amount - covered;
        if owed == 0 || due >= as_of {
            continue;
        }
        match (as_of - due).num_days() {
            ..=30 => b.d0_30 += owed,
            31..=60 => b.d31_60 += owed,
            61..=90 => b.d61_90 += owed,
            _ => b.d90_plus += owed,
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[test]
    fn oldest_paid_first_rest_bucketed_by_days_overdue() {
        // Due Nov 5, Dec 5, Jan 5, Feb 5 of 10 000 each; 12 000 paid; as of Feb 28.
        let invs = [
            (NaiveDate::from_ymd_opt(2025, 11, 5).unwrap(), 10_000),
            (NaiveDate::from_ymd_opt(2025, 12, 5).unwrap(), 10_000),
            (d(1, 5), 10_000),
            (d(2, 5), 10_000),
        ];
        let b = age(&invs, 12_000, d(2, 28));
        // Nov paid, Dec 8 000 left (85 days), Jan 54 days, Feb 23 days.
        assert_eq!(
            b,
            Buckets {
                d0_30: 10_000,
                d31_60: 10_000,
                d61_90: 8_000,
                d90_plus: 0
            }
        );
        assert_eq!(b.total(), 28_000);
        // Boundaries: 30 days → first bucket, 31 → second, 91 → last; due today → not aged.
        assert_eq!(age(&[(d(1, 29), 1)], 0, d(2, 28)).d0_30, 1);
        assert_eq!(age(&[(d(1, 28), 1)], 0, d(2, 28)).d31_60, 1);
        assert_eq!(age(&[(d(2, 28), 1)], 0, d(2, 28)).total(), 0);
        assert_eq!(
            age(
                &[(NaiveDate::from_ymd_opt(2025, 11, 29).unwrap(), 1)],
                0,
                d(2, 28)
            )
            .d90_plus,
            1
        );
        // Overpaid: nothing owed.
        assert_eq!(age(&invs, 50_000, d(2, 28)).total(), 0);
    }
}
