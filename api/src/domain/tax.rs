//! Kenya's Monthly Rental Income (MRI) tax: a flat rate (7.5 % since 2024) of the gross
//! residential rent received in a month, deposits excluded, due by the 20th of the next
//! month. Integer arithmetic only.

use super::Period;
use chrono::NaiveDate;

/// The default rate in basis points (1 bp = 0.01 %): 750 = 7.5 %.
pub const DEFAULT_MRI_RATE_BP: u32 = 750;

/// MRI on `gross_rent` whole shillings at `rate_bp` basis points, rounded to the nearest
/// shilling, halves up: `(gross × bp + 5 000) div 10 000`. E.g. 25 010 × 7.5 % = 1 875.75
/// → 1 876; 25 006 × 7.5 % = 1 875.45 → 1 875; 25 002 × 7.5 % = 1 875.15 → 1 875.
pub fn mri(gross_rent: i64, rate_bp: u32) -> i64 {
    if gross_rent <= 0 {
        return 0;
    }
    let t = i128::from(gross_rent) * i128::from(rate_bp) + 5_000;
    (t / 10_000) as i64
}

/// MRI for `period` is due by the 20th of the following month.
pub fn mri_due_date(period: Period) -> NaiveDate {
    period.next().due_date(20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up_to_whole_shillings() {
        assert_eq!(mri(100_000, 750), 7_500);
        assert_eq!(mri(25_010, 750), 1_876); // 1 875.75
        assert_eq!(mri(25_006, 750), 1_875); // 1 875.45
        assert_eq!(mri(2, 750), 0); // 0.15
        assert_eq!(mri(20, 750), 2); // 1.5 → 2
        assert_eq!(mri(0, 750), 0);
        assert_eq!(mri(1_000, 1_000), 100);
        assert_eq!(mri(1_000_000_000_000, 10_000), 1_000_000_000_000);
    }

    #[test]
    fn due_on_the_twentieth_of_next_month() {
        let p: Period = "2026-12".parse().unwrap();
        assert_eq!(
            mri_due_date(p),
            NaiveDate::from_ymd_opt(2027, 1, 20).unwrap()
        );
    }
}
