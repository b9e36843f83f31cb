//! Staff roles and what each may do. Separation of duties: whoever requests a withdrawal
//! cannot approve it, and administrators configure but neither request nor approve.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submits withdrawals (typically the exchange backend's service account).
    Requester,
    /// Approves or rejects withdrawals others requested.
    Approver,
    /// Manages staff, customers, beneficiaries, wallets, fees and limits.
    Admin,
    /// Sets customers' KYC status, maintains the blocklist, tags deposits and proposes
    /// what happens to a tagged one (an approver approves it).
    Compliance,
    /// The shadow system's token (issue 11 item 6): reads the deposit ledger and the
    /// issued deposit addresses to cross-check them against the chain, and nothing else.
    /// It changes nothing and reads no withdrawal, session, KYC or staff record.
    Shadow,
}

/// Something a staff member may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    RequestWithdrawal,
    ApproveWithdrawal,
    /// Read withdrawals, sessions, proposals, wallets, KYC and resolutions.
    ReadWithdrawals,
    /// Read the deposit ledger, the issued deposit addresses and the audit log's head
    /// (every role, shadow too).
    ReadDepositLedger,
    Administer,
    /// Hand a customer a deposit address (the exchange backend, like withdrawals).
    IssueDepositAddress,
    /// KYC status, blocklist, manual tags, resolution proposals.
    Compliance,
    /// Approve a resolution compliance proposed for a tagged deposit.
    ApproveResolution,
}

impl Permission {
    pub fn describe(self) -> &'static str {
        match self {
            Permission::RequestWithdrawal => "request withdrawals (role requester)",
            Permission::ApproveWithdrawal => "approve or reject withdrawals (role approver)",
            Permission::ReadWithdrawals => {
                "read withdrawals, sessions, KYC or resolutions (any role but shadow)"
            }
            Permission::ReadDepositLedger => "read the deposit ledger, issued addresses or the audit head",
            Permission::Administer => "change configuration (role admin)",
            Permission::IssueDepositAddress => "issue deposit addresses (role requester)",
            Permission::Compliance => {
                "set KYC status, maintain the blocklist or tag deposits (role compliance)"
            }
            Permission::ApproveResolution => "approve the resolution of a tagged deposit (role approver)",
        }
    }
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Requester,
        Role::Approver,
        Role::Admin,
        Role::Compliance,
        Role::Shadow,
    ];

    pub fn allows(self, permission: Permission) -> bool {
        matches!(
            (self, permission),
            (_, Permission::ReadDepositLedger)
                | (
                    Role::Requester | Role::Approver | Role::Admin | Role::Compliance,
                    Permission::ReadWithdrawals
                )
                | (Role::Requester, Permission::RequestWithdrawal)
                | (Role::Approver, Permission::ApproveWithdrawal)
                | (Role::Admin, Permission::Administer)
                | (Role::Requester, Permission::IssueDepositAddress)
                | (Role::Compliance, Permission::Compliance)
                | (Role::Approver, Permission::ApproveResolution)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
            Role::Admin => "admin",
            Role::Compliance => "compliance",
            Role::Shadow => "shadow",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use requester, approver, admin, compliance or shadow")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_has_one_duty() {
        use Permission::*;
        for role in Role::ALL {
            assert!(role.allows(ReadDepositLedger));
            assert_eq!(role.allows(ReadWithdrawals), role != Role::Shadow);
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(Role::Requester.allows(RequestWithdrawal));
        assert!(!Role::Requester.allows(ApproveWithdrawal));
        assert!(!Role::Requester.allows(Administer));
        assert!(Role::Approver.allows(ApproveWithdrawal));
        assert!(!Role::Approver.allows(RequestWithdrawal));
        assert!(!Role::Approver.allows(Administer));
        assert!(Role::Admin.allows(Administer));
        assert!(!Role::Admin.allows(RequestWithdrawal));
        assert!(!Role::Admin.allows(ApproveWithdrawal));
        assert!(Role::Compliance.allows(Compliance));
        assert!(!Role::Compliance.allows(RequestWithdrawal));
        assert!(!Role::Compliance.allows(ApproveWithdrawal));
        assert!(!Role::Compliance.allows(Administer));
        assert!(!Role::Compliance.allows(ApproveResolution));
        assert!(!Role::Admin.allows(Compliance));
        assert!(!Role::Approver.allows(Compliance));
        for permission in [
            RequestWithdrawal,
            ApproveWithdrawal,
            ReadWithdrawals,
            Administer,
            IssueDepositAddress,
            Compliance,
            ApproveResolution,
        ] {
            assert!(!Role::Shadow.allows(permission), "{permission:?}");
        }
        assert!("root".parse::<Role>().is_err());
    }
}
