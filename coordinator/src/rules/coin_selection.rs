//! Choosing coins for a batch and the network fee it pays. Largest coins first: few inputs
//! keep the transaction (and the signers' work) small and the result is deterministic.
//! The fee is computed from the transaction's weight with every signature at its maximum
//! size, so the real fee rate is never below the target.

use bitcoin::{Amount, Weight};

/// Everything about the transaction except which coins it spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectionParams {
    /// Weight one of the wallet's inputs adds once fully signed (all inputs of a wallet
    /// have the same shape).
    pub input_weight: Weight,
    /// The payment outputs' total weight (value, script length, script).
    pub payments_weight: Weight,
    pub payment_count: usize,
    /// The weight of one change output.
    pub change_weight: Weight,
    /// Target fee rate, satoshis per virtual byte.
    pub sat_per_vbyte: u64,
    /// Change below this is not worth an output: it goes to the fee instead.
    pub change_dust: Amount,
    /// The most inputs one transaction may spend.
    pub max_inputs: usize,
}

/// The chosen coins (indexes into the candidates), the fee and the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub coins: Vec<usize>,
    pub fee: Amount,
    pub change: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("not enough spendable coins: {needed} needed (payments and fee), {available} available in {usable} coins")]
    InsufficientFunds {
        needed: Amount,
        available: Amount,
        usable: usize,
    },
    #[error("nothing to pay")]
    NoPayments,
}

/// Bytes a Bitcoin compact-size integer takes.
fn varint_len(n: usize) -> u64 {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Weight of a segwit transaction with `inputs` of the wallet's inputs, the payments and
/// optionally a change output.
pub fn transaction_weight(params: &SelectionParams, inputs: usize, with_change: bool) -> Weight {
    let outputs = params.payment_count + usize::from(with_change);
    // version + lock time + input and output counts, then the segwit marker and flag.
    let base =
        Weight::from_non_witness_data_size(8 + varint_len(inputs) + varint_len(outputs)) + Weight::from_wu(2);
    let change = if with_change {
        params.change_weight
    } else {
        Weight::ZERO
    };
    base + params.input_weight * inputs as u64 + params.payments_weight + change
}

/// The fee at `sat_per_vbyte` for `weight`, rounding the virtual size up.
pub fn fee_for(weight: Weight, sat_per_vbyte: u64) -> Amount {
    Amount::from_sat(weight.to_vbytes_ceil().saturating_mul(sat_per_vbyte))
}

/// Picks coins (largest first) paying `target` plus the fee, with change when the rest is
/// worth an output.
pub fn select_coins(
    candidates: &[Amount],
    target: Amount,
    params: &SelectionParams,
) -> Result<Selection, SelectionError> {
    if params.payment_count == 0 {
        return Err(SelectionError::NoPayments);
    }
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|a, b| candidates[*b].cmp(&candidates[*a]).then(a.cmp(b)));
    let mut chosen = Vec::new();
    let mut total = Amount::ZERO;
    for index in order.into_iter().take(params.max_inputs) {
        chosen.push(index);
        total = total.checked_add(candidates[index]).unwrap_or(Amount::MAX);
        let n = chosen.len();
        let fee_with_change = fee_for(transaction_weight(params, n, true), params.sat_per_vbyte);
        let fee_without = fee_for(transaction_weight(params, n, false), params.sat_per_vbyte);
        let with_change_needs = target
            .checked_add(fee_with_change)
            .and_then(|x| x.checked_add(params.change_dust));
        if let Some(needed) = with_change_needs {
            if total >= needed {
                return Ok(Selection {
                    coins: chosen,
                    fee: fee_with_change,
                    change: Some(total - target - fee_with_change),
                });
            }
        }
        if let Some(needed) = target.checked_add(fee_without) {
            if total >= needed {
                // What is left is below the change dust plus the change output's own fee:
                // it goes to the miners rather than creating an output worth nothing.
                return Ok(Selection {
                    coins: chosen,
                    fee: total - target,
                    change: None,
                });
            }
        }
    }
    let usable = candidates.len().min(params.max_inputs);
    let n = usable.max(1);
    Err(SelectionError::InsufficientFunds {
        needed: target
            .checked_add(fee_for(
                transaction_weight(params, n, false),
                params.sat_per_vbyte,
            ))
            .unwrap_or(Amount::MAX),
        available: total,
        usable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P2WPKH-like wallet paying one P2WPKH output at 10 sat/vB.
    fn params(payments: usize) -> SelectionParams {
        SelectionParams {
            input_weight: Weight::from_wu(272),
            payments_weight: Weight::from_wu(124) * payments as u64,
            payment_count: payments,
            change_weight: Weight::from_wu(124),
            sat_per_vbyte: 10,
            change_dust: Amount::from_sat(294),
            max_inputs: 100,
        }
    }

    fn sats(list: &[u64]) -> Vec<Amount> {
        list.iter().map(|s| Amount::from_sat(*s)).collect()
    }

    #[test]
    fn weight_matches_a_real_p2wpkh_transaction() {
        // 1 input, 2 outputs: 4*(8+1+1) + 2 + 272 + 248 = 562 WU -> 141 vB (rounded up).
        let w = transaction_weight(&params(1), 1, true);
        assert_eq!(w, Weight::from_wu(562));
        assert_eq!(fee_for(w, 10), Amount::from_sat(1_410));
        // Counts over 252 take three bytes.
        let many = transaction_weight(&params(1), 253, false);
        assert_eq!(many, Weight::from_wu(4 * (8 + 3 + 1) + 2 + 272 * 253 + 124));
    }

    #[test]
    fn largest_first_with_change() {
        let coins = sats(&[10_000, 500_000, 200_000]);
        let s = select_coins(&coins, Amount::from_sat(300_000), &params(1)).unwrap();
        assert_eq!(s.coins, vec![1]);
        assert_eq!(s.fee, Amount::from_sat(1_410));
        assert_eq!(s.change, Some(Amount::from_sat(500_000 - 300_000 - 1_410)));
    }

    #[test]
    fn adds_coins_until_payments_and_fee_are_covered() {
        let coins = sats(&[100_000, 100_000, 100_000]);
        let s = select_coins(&coins, Amount::from_sat(250_000), &params(2)).unwrap();
        assert_eq!(s.coins.len(), 3);
        let total = Amount::from_sat(300_000);
        assert_eq!(
            total,
            Amount::from_sat(250_000) + s.fee + s.change.unwrap_or(Amount::ZERO)
        );
        let weight = transaction_weight(&params(2), 3, s.change.is_some());
        assert!(s.fee >= fee_for(weight, 10));
    }

    #[test]
    fn dust_change_goes_to_the_fee() {
        // 100,000 - 98,500 leaves 1,500: enough for the fee without change (1,100) but not
        // for the fee with change (1,410) plus 294 of dust.
        let s = select_coins(&sats(&[100_000]), Amount::from_sat(98_500), &params(1)).unwrap();
        assert_eq!(s.change, None);
        assert_eq!(s.fee, Amount::from_sat(1_500));
        assert!(s.fee >= fee_for(transaction_weight(&params(1), 1, false), 10));
    }

    #[test]
    fn refuses_when_funds_or_inputs_run_out() {
        let err = select_coins(&sats(&[1_000, 2_000]), Amount::from_sat(5_000), &params(1)).unwrap_err();
        assert!(
            matches!(err, SelectionError::InsufficientFunds { usable: 2, .. }),
            "{err}"
        );
        let mut few = params(1);
        few.max_inputs = 2;
        let err = select_coins(&sats(&[10_000, 10_000, 10_000]), Amount::from_sat(25_000), &few).unwrap_err();
        assert!(
            matches!(err, SelectionError::InsufficientFunds { usable: 2, .. }),
            "{err}"
        );
        assert_eq!(
            select_coins(&[], Amount::from_sat(1), &params(0)),
            Err(SelectionError::NoPayments)
        );
    }

    #[test]
    fn money_is_conserved_exactly() {
        for target in [1_000u64, 50_000, 123_456, 199_000] {
            let coins = sats(&[60_000, 70_000, 80_000]);
            if let Ok(s) = select_coins(&coins, Amount::from_sat(target), &params(1)) {
                let inputs: u64 = s.coins.iter().map(|i| coins[*i].to_sat()).sum();
                let change = s.change.map_or(0, |c| c.to_sat());
                assert_eq!(inputs, target + s.fee.to_sat() + change);
                if let Some(change) = s.change {
                    assert!(change >= Amount::from_sat(294));
                }
            }
        }
    }
}
