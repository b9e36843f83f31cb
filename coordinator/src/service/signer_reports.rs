//! What online signers report refusing (limits waiting, a paused signer, a PSBT its
//! inspection refused): recorded per session and signer so staff see why a withdrawal
//! sits in `signing`, on the withdrawal and in `/metrics`.

use sluice_shared::signer_api::{RefusalReport, MAX_REFUSAL_DETAIL_CHARS, REFUSAL_REASONS};

use super::{Coordinator, ServiceError};
use crate::db::sessions;
use crate::db::signer_refusals;
use crate::db::signers::SignerRecord;
use crate::time::UnixTime;

impl Coordinator {
    /// Records `signer`'s refusal of session `id` (the latest per session and signer).
    /// Only a session that needs one of the signer's keys can be reported on.
    pub fn record_signer_refusal(
        &mut self,
        id: u64,
        signer: &SignerRecord,
        report: &RefusalReport,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        if !REFUSAL_REASONS.contains(&report.reason.as_str()) {
            return Err(ServiceError::Invalid(format!(
                "unknown refusal reason {:?}: use one of {}",
                report.reason,
                REFUSAL_REASONS.join(", ")
            )));
        }
        let detail = report.detail.trim();
        if detail.chars().count() > MAX_REFUSAL_DETAIL_CHARS || detail.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(format!(
                "a refusal detail is at most {MAX_REFUSAL_DETAIL_CHARS} characters without control characters"
            )));
        }
        let tx = self.db.write()?;
        let session =
            sessions::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("session {id}")))?;
        let involves_signer = session
            .psbt
            .inputs
            .iter()
            .flat_map(|input| input.bip32_derivation.values())
            .any(|(fingerprint, _)| *fingerprint == signer.master_fingerprint);
        if !involves_signer {
            return Err(ServiceError::NotFound(format!(
                "session {id} needing a signature of signer {}",
                signer.name
            )));
        }
        signer_refusals::record(&tx, id, &signer.id.to_string(), &report.reason, detail, now)?;
        tx.commit()?;
        tracing::warn!(
            session = id,
            signer = %signer.name,
            reason = %report.reason,
            "signer refuses: {detail}"
        );
        Ok(())
    }

    /// Each signer's most recent refusal report (by signer name), for the dashboard.
    pub fn latest_signer_refusals(&mut self) -> Result<Vec<signer_refusals::LatestRefusal>, ServiceError> {
        let tx = self.db.read()?;
        Ok(signer_refusals::latest_per_signer(&tx)?)
    }
}
