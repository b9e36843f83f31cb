//! Signed limit commands: the paper QR codes with which M of N security officers raise
//! or change a signer's limits.
//!
//! OWNER: helper "limitcmd" — designs and implements this module (issue 3).
