//! Payment allocation: oldest open invoice first; a partial payment leaves a balance; what
//! is left after every open invoice is paid becomes the tenant's credit.

use super::money::Kes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInvoice<Id> {
    pub id: Id,
    /// Sort key: the oldest due date is paid first.
    pub due: chrono::NaiveDate,
    pub balance: Kes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation<Id> {
    pub invoice: Id,
    pub amount: Kes,
}

/// Splits `amount` over `invoices` (any order; sorted here by due date, then input order).
/// Returns the allocations and the unallocated remainder (credit).
/// Invariant: sum(allocations) + credit == amount, and no invoice gets more than its balance.
pub fn allocate<Id: Clone>(
    amount: Kes,
    invoices: &[OpenInvoice<Id>],
) -> (Vec<Allocation<Id>>, Kes) {
    let mut order: Vec<&OpenInvoice<Id>> = invoices.iter().collect();
    order.sort_by_key(|i| i.due);
    let mut left = amount;
    let mut out = Vec::new();
    for inv in order {
        if left.is_zero() {
            break;
        }
        let take = left.min(inv.balance);
        if take.is_zero() {
            continue;
        }
        out.push(Allocation {
            invoice: inv.id.clone(),
            amount: take,
        });
        left = left.saturating_sub(take);
    }
    (out, left)
}

/// Settles a lease: each payment's unallocated amount (oldest payment first) goes to the
/// open invoices, oldest due first. Returns (payment, allocation) pairs; what is left of
/// the payments stays as credit.
pub fn settle<P: Clone, Id: Clone + PartialEq>(
    payments: &[(P, Kes)],
    invoices: &[OpenInvoice<Id>],
) -> Vec<(P, Allocation<Id>)> {
    let mut open: Vec<OpenInvoice<Id>> = invoices.to_vec();
    let mut out = Vec::new();
    for (payment, left) in payments {
        if open.iter().all(|i| i.balance.is_zero()) {
            break;
        }
        let (allocs, _credit) = allocate(*left, &open);
        for a in allocs {
            if let Some(inv) = open.iter_mut().find(|i| i.id == a.invoice) {
                inv.balance = inv.balance.saturating_sub(a.amount);
            }
            out.push((payment.clone(), a));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn inv(id: u32, month: u32, balance: i64) -> OpenInvoice<u32> {
        OpenInvoice {
            id,
            due: NaiveDate::from_ymd_opt(2026, month, 5).unwrap(),
            balance: Kes::new(balance).unwrap(),
        }
    }

    #[test]
    fn oldest_first_partial_exact_over() {
        let invs = [inv(2, 2, 10_000), inv(1, 1, 10_000)];
        let (a, credit) = allocate(Kes::new(4_000).unwrap(), &invs);
        assert_eq!(
            a,
            vec![Allocation {
                invoice: 1,
                amount: Kes::new(4_000).unwrap()
            }]
        );
        assert_eq!(credit, Kes::ZERO);

        let (a, credit) = allocate(Kes::new(20_000).unwrap(), &invs);
        assert_eq!(a.len(), 2);
        assert_eq!(credit, Kes::ZERO);

        let (a, credit) = allocate(Kes::new(25_000).unwrap(), &invs);
        assert_eq!(a[0].invoice, 1);
        assert_eq!(a[1].invoice, 2);
        assert_eq!(credit, Kes::new(5_000).unwrap());
    }

    #[test]
    fn settle_spends_payments_oldest_first() {
        let invs = [inv(1, 1, 10_000), inv(2, 2, 10_000)];
        let k = |v| Kes::new(v).unwrap();
        let s = settle(&[("p1", k(12_000)), ("p2", k(9_000))], &invs);
        let got: Vec<_> = s
            .iter()
            .map(|(p, a)| (*p, a.invoice, a.amount.shillings()))
            .collect();
        assert_eq!(
            got,
            vec![("p1", 1, 10_000), ("p1", 2, 2_000), ("p2", 2, 8_000)]
        );
    }

    proptest! {
        #[test]
        fn allocations_plus_credit_equal_payment(
            amount in 0i64..2_000_000,
            balances in proptest::collection::vec((1u32..=12, 0i64..500_000), 0..8),
        ) {
            let invs: Vec<_> = balances.iter().enumerate()
                .map(|(i, (m, b))| inv(i as u32, *m, *b)).collect();
            let (allocs, credit) = allocate(Kes::new(amount).unwrap(), &invs);
            let total: i64 = allocs.iter().map(|a| a.amount.shillings()).sum();
            prop_assert_eq!(total + credit.shillings(), amount);
            for a in &allocs {
                let i = &invs[a.invoice as usize];
                prop_assert!(a.amount <= i.balance);
                prop_assert!(!a.amount.is_zero());
            }
            // Credit only when every invoice is fully paid.
            if !credit.is_zero() {
                let owed: i64 = invs.iter().map(|i| i.balance.shillings()).sum();
                prop_assert_eq!(total, owed);
            }
            // Oldest first: no invoice is paid while an older one still has a balance left.
            let paid = |id: u32| allocs.iter().filter(|a| a.invoice == id).map(|a| a.amount.shillings()).sum::<i64>();
            for x in &invs { for y in &invs {
                if x.due < y.due && paid(y.id) > 0 {
                    prop_assert_eq!(paid(x.id), x.balance.shillings());
                }
            }}
        }
    }
}
