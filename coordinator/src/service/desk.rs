//! Two admins at one desk: a new coordinator with both its admins enrolled, and every
//! change proposed by one and approved by the other at once. The same steps, and the same
//! checks, as two people through the CLI or API; for setup scripts and tests, which
//! otherwise each repeat the enrolment and proposal dance.

use std::path::Path;

use bitcoin::Network;
use rand::rngs::OsRng;

use super::changes::{Applied, Change};
use super::{Actor, ApiToken, Coordinator, ServiceError};
use crate::rules::kyc::KycStatus;
use crate::rules::roles::Role;
use crate::time::UnixTime;

#[derive(Debug)]
pub struct AdminDesk {
    pub coord: Coordinator,
    /// The first admin: proposes every change, and acts where one admin may.
    pub admin: Actor,
    /// Its token, for a client that talks to the API as that admin.
    pub admin_token: ApiToken,
    /// The second admin: approves every change.
    pub second: Actor,
    pub second_token: ApiToken,
    /// A compliance officer, enrolled the first time a customer is verified here.
    compliance: Option<Actor>,
    now: UnixTime,
}

impl AdminDesk {
    /// Initialises a coordinator at `path` with admins `names` and enrolls both.
    pub fn initialise(
        path: &Path,
        network: Network,
        names: [&str; 2],
        now: UnixTime,
    ) -> Result<AdminDesk, ServiceError> {
        let (mut coord, [first, second]) = Coordinator::initialise(path, network, names, &mut OsRng, now)?;
        let (_, admin_token) = coord.enroll(&first, &mut OsRng, now)?;
        let (_, second_token) = coord.enroll(&second, &mut OsRng, now)?;
        let admin = coord.authenticate(&admin_token)?;
        let second = coord.authenticate(&second_token)?;
        Ok(AdminDesk {
            coord,
            admin,
            admin_token,
            second,
            second_token,
            compliance: None,
            now,
        })
    }

    /// Proposes `change` as the first admin and approves it as the second.
    pub fn agree(&mut self, change: Change) -> Result<Applied, ServiceError> {
        self.coord
            .propose_and_approve(&self.admin, &self.second, &change, &mut OsRng, self.now)
    }

    /// Adds a staff member through a proposal and redeems their enrolment secret, as they
    /// would: their actor and token.
    pub fn enroll_staff(&mut self, name: &str, role: Role) -> Result<(Actor, ApiToken), ServiceError> {
        let applied = self.agree(Change::StaffAdd {
            name: name.to_owned(),
            role,
        })?;
        let secret = applied
            .into_enrollment_secret()
            .ok_or_else(|| ServiceError::Invalid(format!("adding {name} gave no enrolment secret")))?;
        let (_, token) = self.coord.enroll(&secret, &mut OsRng, self.now)?;
        let actor = self.coord.authenticate(&token)?;
        Ok((actor, token))
    }
}

impl AdminDesk {
    /// Adds a customer and has compliance verify them (without expiry), as a set-up
    /// script does before the customer can withdraw. The compliance officer
    /// (`desk-compliance`) is enrolled the first time.
    pub fn add_verified_customer(&mut self, id: &str) -> Result<(), ServiceError> {
        self.coord.add_customer(&self.admin, id, self.now)?;
        let officer = match &self.compliance {
            Some(officer) => officer.clone(),
            None => {
                let (officer, _) = self.enroll_staff("desk-compliance", Role::Compliance)?;
                self.compliance = Some(officer.clone());
                officer
            }
        };
        self.coord.set_kyc(
            &officer,
            id,
            KycStatus::Verified { until: None },
            "verified at set-up",
            self.now,
        )
    }
}
