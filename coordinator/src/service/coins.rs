//! The balance and coin view: what each wallet holds, by coin state, from the coins the
//! monitor recorded (no need to read SQLite or ask the node).

use bitcoin::Amount;
use sluice_shared::api::{BalanceList, CoinList, CoinState, WalletBalance};

use super::{require, Actor, Coordinator, ServiceError};
use crate::db::{coins, wallets};
use crate::rules::roles::Permission;

impl Coordinator {
    /// A wallet's coins (or every wallet's); spent ones only with `include_spent`.
    pub fn coins(
        &mut self,
        actor: &Actor,
        wallet: Option<&str>,
        include_spent: bool,
    ) -> Result<CoinList, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        if let Some(name) = wallet {
            wallets::find(&tx, name)?.ok_or_else(|| ServiceError::UnknownWallet(name.to_owned()))?;
        }
        Ok(CoinList {
            coins: coins::list(&tx, wallet, include_spent)?,
        })
    }

    /// Every wallet's balance by coin state (wallets without coins show zeros).
    pub fn balances(&mut self, actor: &Actor) -> Result<BalanceList, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        let mut list = Vec::new();
        for wallet in wallets::list(&tx)? {
            let mut balance = WalletBalance {
                wallet: wallet.name.clone(),
                spendable_sat: Amount::ZERO,
                unconfirmed_sat: Amount::ZERO,
                reserved_sat: Amount::ZERO,
                quarantined_sat: Amount::ZERO,
                coins: 0,
            };
            for coin in coins::list(&tx, Some(&wallet.name), false)? {
                let bucket = match coin.state {
                    CoinState::Spendable => &mut balance.spendable_sat,
                    CoinState::Unconfirmed => &mut balance.unconfirmed_sat,
                    CoinState::Reserved => &mut balance.reserved_sat,
                    CoinState::Quarantined => &mut balance.quarantined_sat,
                    CoinState::Spent => continue,
                };
                *bucket = bucket.checked_add(coin.amount_sat).unwrap_or(Amount::MAX);
                balance.coins += 1;
            }
            list.push(balance);
        }
        Ok(BalanceList { wallets: list })
    }
}
