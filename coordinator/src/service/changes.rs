//! The configuration changes that can move money, as values: what a proposal stores (as
//! canonical JSON) and what its approval applies. `apply` is the only way any of them
//! takes effect, and only `proposals` calls it.

use bitcoin::{Amount, Network};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sluice_shared::asset::{format_btc, Asset};
use sluice_shared::identity::SignerId;

use super::auth::EnrollmentSecret;
use super::wallets::{CreatedWallet, NewWalletRequest};
use super::{admin, deposits, signing, wallets, ServiceError};
use crate::rules::deposits::DepositSettings;
use crate::rules::fees::FeeSchedule;
use crate::rules::policy::ApprovalPolicy;
use crate::rules::risk::RiskSettings;
use crate::rules::roles::Role;
use crate::time::UnixTime;

/// One change an admin proposes and another approves. Serialised with a fixed field
/// order, so the stored JSON is exactly what the approver was shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// A new staff member; approval yields their enrollment secret.
    StaffAdd {
        name: String,
        role: Role,
    },
    /// Revokes a staff member's token at once; approval yields a new enrollment secret.
    StaffRotateToken {
        name: String,
    },
    StaffSetActive {
        name: String,
        active: bool,
    },
    BeneficiaryAdd {
        customer_id: String,
        address: String,
        label: String,
    },
    BeneficiarySetActive {
        customer_id: String,
        address: String,
        active: bool,
    },
    FeesSet {
        #[serde(with = "asset_ticker")]
        asset: Asset,
        schedule: FeeSchedule,
    },
    CustomerDailyLimit {
        customer_id: String,
        #[serde(with = "asset_ticker")]
        asset: Asset,
        #[serde(with = "bitcoin::amount::serde::as_sat")]
        daily_limit_sat: Amount,
    },
    WalletDailyLimit {
        wallet: String,
        #[serde(with = "bitcoin::amount::serde::as_sat")]
        daily_limit_sat: Amount,
    },
    WalletPolicy {
        wallet: String,
        policy: ApprovalPolicy,
    },
    WalletCreate(NewWalletRequest),
    SignerAdd {
        name: String,
        identity_key: String,
        fingerprint: String,
        /// Stealth mode: the signer's restricted-discovery key (`sluice-signer id`).
        /// Absent in proposals made before stealth mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tor_key: Option<String>,
    },
    SignerSetActive {
        signer_id: String,
        active: bool,
    },
    /// Sets or rotates a signer's restricted-discovery key (`None` removes it).
    SignerSetTorKey {
        signer_id: String,
        tor_key: Option<String>,
    },
    /// Marks a wallet as a deposit wallet (the shadow alone spends it), or changes its
    /// deposit settings.
    DepositWallet {
        wallet: String,
        settings: DepositSettings,
    },
    /// Turns risk flag rules on or off and sets their thresholds (`rules::risk`).
    RiskSettings {
        settings: RiskSettings,
    },
}

mod asset_ticker {
    use serde::{Deserialize, Deserializer, Serializer};
    use sluice_shared::asset::Asset;

    pub fn serialize<S: Serializer>(asset: &Asset, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(asset.ticker())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Asset, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn on_off(active: bool) -> &'static str {
    if active {
        "activate"
    } else {
        "deactivate"
    }
}

impl Change {
    /// The canonical JSON a proposal stores.
    pub fn canonical_json(&self) -> Result<String, ServiceError> {
        serde_json::to_string(self)
            .map_err(|e| ServiceError::Invalid(format!("cannot encode the change: {e}")))
    }

    /// The change in words, for the admin who approves it.
    pub fn summary(&self) -> String {
        match self {
            Change::StaffAdd { name, role } => format!("add staff member {name} with role {role}"),
            Change::StaffRotateToken { name } => {
                format!("revoke {name}'s token and issue an enrollment secret for a new one")
            }
            Change::StaffSetActive { name, active } => format!("{} staff member {name}", on_off(*active)),
            Change::BeneficiaryAdd {
                customer_id,
                address,
                label,
            } => format!("register {address} ({label:?}) as a destination of customer {customer_id}"),
            Change::BeneficiarySetActive {
                customer_id,
                address,
                active,
            } => format!(
                "{} beneficiary {address} of customer {customer_id}",
                on_off(*active)
            ),
            Change::FeesSet { asset, schedule } => {
                format!("set the {asset} withdrawal fee to {}", schedule.describe())
            }
            Change::CustomerDailyLimit {
                customer_id,
                asset,
                daily_limit_sat,
            } => format!(
                "set customer {customer_id}'s daily {asset} limit to {}",
                format_btc(*daily_limit_sat)
            ),
            Change::WalletDailyLimit {
                wallet,
                daily_limit_sat,
            } => format!(
                "set wallet {wallet}'s daily limit to {}",
                format_btc(*daily_limit_sat)
            ),
            Change::WalletPolicy { wallet, policy } => {
                format!("set wallet {wallet}'s approval policy to: {}", policy.describe())
            }
            Change::WalletCreate(request) => format!(
                "create wallet {} ({}{}, {} key(s)), daily limit {}, approval: {}",
                request.name,
                request.kind,
                request
                    .threshold
                    .map(|m| format!(" {m} of n"))
                    .unwrap_or_default(),
                request.keys.len(),
                format_btc(request.daily_limit),
                request.policy.describe()
            ),
            Change::SignerAdd {
                name,
                identity_key,
                fingerprint,
                tor_key,
            } => format!(
                "register signer {name} (identity key {identity_key}, fingerprint {fingerprint}{})",
                tor_key
                    .as_ref()
                    .map(|key| format!(", restricted-discovery key {key}"))
                    .unwrap_or_default()
            ),
            Change::SignerSetActive { signer_id, active } => {
                format!("{} signer {signer_id}", on_off(*active))
            }
            Change::SignerSetTorKey { signer_id, tor_key } => match tor_key {
                Some(key) => format!("set signer {signer_id}'s restricted-discovery key to {key}"),
                None => format!("remove signer {signer_id}'s restricted-discovery key"),
            },
            Change::DepositWallet { wallet, settings } => format!(
                "make wallet {wallet} a deposit wallet (only the shadow spends it) or change its settings: {}",
                settings.describe()
            ),
            Change::RiskSettings { settings } => format!("set the risk flags to: {}", settings.describe()),
        }
    }
}

/// What applying a change produced, for the admin who approved it.
#[derive(Debug)]
pub enum Applied {
    /// Hand the secret to `staff` over a safe channel; they exchange it for their token.
    Enrollment {
        staff: String,
        secret: EnrollmentSecret,
    },
    Wallet(CreatedWallet),
    Signer(SignerId),
    /// The canonical address registered.
    Beneficiary(String),
    Done,
}

/// What a proposal will do, as its dry run showed (never a secret).
#[derive(Debug, Clone)]
pub enum Preview {
    Wallet(CreatedWallet),
    Signer(SignerId),
    Beneficiary(String),
    Nothing,
}

impl Applied {
    pub fn into_enrollment_secret(self) -> Option<EnrollmentSecret> {
        match self {
            Applied::Enrollment { secret, .. } => Some(secret),
            _ => None,
        }
    }

    pub(super) fn preview(self) -> Preview {
        match self {
            Applied::Wallet(created) => Preview::Wallet(created),
            Applied::Signer(id) => Preview::Signer(id),
            Applied::Beneficiary(address) => Preview::Beneficiary(address),
            Applied::Enrollment { .. } | Applied::Done => Preview::Nothing,
        }
    }
}

/// Who and when, for the records a change writes.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChangeContext<'a> {
    pub network: Network,
    /// The admin who proposed the change: recorded as its author.
    pub proposer: &'a str,
    pub now: UnixTime,
}

/// Applies `change` inside the caller's write transaction.
pub(super) fn apply<R: RngCore + CryptoRng>(
    conn: &rusqlite::Connection,
    ctx: &ChangeContext<'_>,
    change: &Change,
    rng: &mut R,
) -> Result<Applied, ServiceError> {
    Ok(match change {
        Change::StaffAdd { name, role } => Applied::Enrollment {
            staff: name.clone(),
            secret: admin::staff_add(conn, ctx, name, *role, rng)?,
        },
        Change::StaffRotateToken { name } => Applied::Enrollment {
            staff: name.clone(),
            secret: admin::staff_rotate_token(conn, ctx, name, rng)?,
        },
        Change::StaffSetActive { name, active } => {
            admin::staff_set_active(conn, ctx, name, *active)?;
            Applied::Done
        }
        Change::BeneficiaryAdd {
            customer_id,
            address,
            label,
        } => Applied::Beneficiary(admin::beneficiary_add(conn, ctx, customer_id, address, label)?),
        Change::BeneficiarySetActive {
            customer_id,
            address,
            active,
        } => {
            admin::beneficiary_set_active(conn, ctx, customer_id, address, *active)?;
            Applied::Done
        }
        Change::FeesSet { asset, schedule } => {
            admin::fees_set(conn, ctx, *asset, *schedule)?;
            Applied::Done
        }
        Change::CustomerDailyLimit {
            customer_id,
            asset,
            daily_limit_sat,
        } => {
            admin::customer_daily_limit(conn, ctx, customer_id, *asset, *daily_limit_sat)?;
            Applied::Done
        }
        Change::WalletDailyLimit {
            wallet,
            daily_limit_sat,
        } => {
            admin::wallet_daily_limit(conn, ctx, wallet, *daily_limit_sat)?;
            Applied::Done
        }
        Change::WalletPolicy { wallet, policy } => {
            admin::wallet_policy(conn, ctx, wallet, policy)?;
            Applied::Done
        }
        Change::WalletCreate(request) => Applied::Wallet(wallets::wallet_create(conn, ctx, request)?),
        Change::SignerAdd {
            name,
            identity_key,
            fingerprint,
            tor_key,
        } => Applied::Signer(signing::signer_add(
            conn,
            ctx,
            name,
            identity_key,
            fingerprint,
            tor_key.as_deref(),
        )?),
        Change::SignerSetActive { signer_id, active } => {
            signing::signer_set_active(conn, ctx, signer_id, *active)?;
            Applied::Done
        }
        Change::SignerSetTorKey { signer_id, tor_key } => {
            signing::signer_set_tor_key(conn, ctx, signer_id, tor_key.as_deref())?;
            Applied::Done
        }
        Change::DepositWallet { wallet, settings } => {
            deposits::deposit_wallet_set(conn, ctx, wallet, settings)?;
            Applied::Done
        }
        Change::RiskSettings { settings } => {
            admin::risk_settings_set(conn, ctx, settings)?;
            Applied::Done
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_as_canonical_json() {
        let changes = [
            Change::StaffAdd {
                name: "eve".into(),
                role: Role::Approver,
            },
            Change::FeesSet {
                asset: Asset::Btc,
                schedule: FeeSchedule::Percent { basis_points: 25 },
            },
            Change::WalletDailyLimit {
                wallet: "hot".into(),
                daily_limit_sat: Amount::from_sat(5),
            },
        ];
        for change in changes {
            let json = change.canonical_json().unwrap();
            let back: Change = serde_json::from_str(&json).unwrap();
            assert_eq!(back, change);
            assert_eq!(back.canonical_json().unwrap(), json);
        }
        let json = Change::StaffAdd {
            name: "eve".into(),
            role: Role::Admin,
        }
        .canonical_json()
        .unwrap();
        assert_eq!(json, r#"{"change":"staff_add","name":"eve","role":"admin"}"#);
        assert!(
            serde_json::from_str::<Change>(r#"{"change":"staff_add","name":"e","role":"admin","x":1}"#)
                .is_err()
        );
    }
}
