//! The coordinator's schema, as migrations applied in order. `PRAGMA user_version` records
//! how many are applied; a migration is never edited once released, only followed by a
//! new one.
//!
//! Nothing financial is deleted: every table refuses DELETE, history tables (events,
//! approvals, the admin log) refuse UPDATE too, a withdrawal's request fields never
//! change, its status only moves along the edges of `rules::status`, and it can become
//! `approved` only with an approval on record. The Rust rules decide; these triggers are
//! the guard that catches a bug or a hand-edited database.

/// Each entry is one migration, run in its own transaction.
pub const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
    MIGRATION_7,
    MIGRATION_8,
    MIGRATION_9,
    MIGRATION_10,
    MIGRATION_11,
    MIGRATION_12,
    MIGRATION_13,
    MIGRATION_14,
    MIGRATION_15,
    MIGRATION_16,
    MIGRATION_17,
    MIGRATION_18,
    MIGRATION_19,
    MIGRATION_20,
    MIGRATION_21,
    MIGRATION_22,
];

const MIGRATION_1: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE staff (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    role TEXT NOT NULL CHECK (role IN ('requester', 'approver', 'admin')),
    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    created_by TEXT REFERENCES staff(name)
);

CREATE TABLE customers (
    id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at INTEGER NOT NULL
);

CREATE TABLE beneficiaries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    address TEXT NOT NULL,
    label TEXT NOT NULL,
    network TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    UNIQUE (customer_id, address)
);

CREATE TABLE wallets (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    wallet_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    receive_descriptor TEXT NOT NULL,
    change_descriptor TEXT NOT NULL,
    approval_policy TEXT NOT NULL,
    daily_limit_sat INTEGER NOT NULL CHECK (daily_limit_sat >= 0),
    next_receive_index INTEGER NOT NULL DEFAULT 0 CHECK (next_receive_index >= 0),
    next_change_index INTEGER NOT NULL DEFAULT 0 CHECK (next_change_index >= 0),
    created_at INTEGER NOT NULL
);

-- Every address the coordinator handed out or used for change, so the monitor can map a
-- script back to its derivation.
CREATE TABLE wallet_addresses (
    wallet TEXT NOT NULL REFERENCES wallets(name),
    branch INTEGER NOT NULL CHECK (branch IN (0, 1)),
    derivation_index INTEGER NOT NULL CHECK (derivation_index >= 0),
    address TEXT NOT NULL,
    script_pubkey TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (wallet, branch, derivation_index)
);

CREATE TABLE fee_schedules (
    asset TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('flat', 'percent')),
    flat_sat INTEGER,
    basis_points INTEGER,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL REFERENCES staff(name),
    CHECK ((kind = 'flat' AND flat_sat >= 0 AND basis_points IS NULL)
        OR (kind = 'percent' AND basis_points BETWEEN 0 AND 10000 AND flat_sat IS NULL))
);

CREATE TABLE customer_limits (
    customer_id TEXT NOT NULL REFERENCES customers(id),
    asset TEXT NOT NULL,
    daily_limit_sat INTEGER NOT NULL CHECK (daily_limit_sat >= 0),
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL REFERENCES staff(name),
    PRIMARY KEY (customer_id, asset)
);

CREATE TABLE withdrawals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    wallet TEXT NOT NULL REFERENCES wallets(name),
    asset TEXT NOT NULL,
    destination TEXT NOT NULL,
    amount_sat INTEGER NOT NULL CHECK (amount_sat > 0),
    fee_sat INTEGER NOT NULL CHECK (fee_sat >= 0),
    status TEXT NOT NULL CHECK (status IN ('pending_approval', 'approved', 'rejected', 'batched',
        'signing', 'signed', 'broadcast', 'confirmed', 'failed')),
    requested_by TEXT NOT NULL REFERENCES staff(name),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX withdrawals_by_status ON withdrawals(status, id);
CREATE INDEX withdrawals_by_customer_day ON withdrawals(customer_id, asset, created_at);
CREATE INDEX withdrawals_by_wallet_day ON withdrawals(wallet, created_at);

CREATE TABLE withdrawal_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    withdrawal_id INTEGER NOT NULL REFERENCES withdrawals(id),
    kind TEXT NOT NULL CHECK (kind IN ('requested', 'approval_recorded', 'approved', 'rejected',
        'batched', 'signing', 'signed', 'broadcast', 'confirmed', 'failed')),
    actor TEXT NOT NULL,
    reason TEXT,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX withdrawal_events_by_withdrawal ON withdrawal_events(withdrawal_id, id);

CREATE TABLE approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    withdrawal_id INTEGER NOT NULL REFERENCES withdrawals(id),
    approver TEXT REFERENCES staff(name),
    method TEXT NOT NULL CHECK (method IN ('manual', 'auto-rule')),
    detail TEXT,
    approved_at INTEGER NOT NULL,
    CHECK ((method = 'manual' AND approver IS NOT NULL) OR (method = 'auto-rule' AND approver IS NULL)),
    UNIQUE (withdrawal_id, approver)
);
CREATE UNIQUE INDEX one_auto_approval ON approvals(withdrawal_id) WHERE method = 'auto-rule';

-- Who changed configuration (staff, customers, beneficiaries, wallets, fees, limits).
CREATE TABLE admin_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);

-- Nothing is ever deleted.
CREATE TRIGGER staff_no_delete BEFORE DELETE ON staff
    BEGIN SELECT RAISE(ABORT, 'staff are deactivated, never deleted'); END;
CREATE TRIGGER customers_no_delete BEFORE DELETE ON customers
    BEGIN SELECT RAISE(ABORT, 'customers are suspended, never deleted'); END;
CREATE TRIGGER beneficiaries_no_delete BEFORE DELETE ON beneficiaries
    BEGIN SELECT RAISE(ABORT, 'beneficiaries are deactivated, never deleted'); END;
CREATE TRIGGER wallets_no_delete BEFORE DELETE ON wallets
    BEGIN SELECT RAISE(ABORT, 'wallets are never deleted'); END;
CREATE TRIGGER wallet_addresses_no_delete BEFORE DELETE ON wallet_addresses
    BEGIN SELECT RAISE(ABORT, 'wallet addresses are never deleted'); END;
CREATE TRIGGER fee_schedules_no_delete BEFORE DELETE ON fee_schedules
    BEGIN SELECT RAISE(ABORT, 'fee schedules are replaced, never deleted'); END;
CREATE TRIGGER customer_limits_no_delete BEFORE DELETE ON customer_limits
    BEGIN SELECT RAISE(ABORT, 'limits are replaced, never deleted'); END;
CREATE TRIGGER withdrawals_no_delete BEFORE DELETE ON withdrawals
    BEGIN SELECT RAISE(ABORT, 'withdrawals are never deleted'); END;

-- History is append-only.
CREATE TRIGGER withdrawal_events_no_delete BEFORE DELETE ON withdrawal_events
    BEGIN SELECT RAISE(ABORT, 'withdrawal history is append-only'); END;
CREATE TRIGGER withdrawal_events_no_update BEFORE UPDATE ON withdrawal_events
    BEGIN SELECT RAISE(ABORT, 'withdrawal history is append-only'); END;
CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
    BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
    BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
CREATE TRIGGER admin_events_no_delete BEFORE DELETE ON admin_events
    BEGIN SELECT RAISE(ABORT, 'the admin log is append-only'); END;
CREATE TRIGGER admin_events_no_update BEFORE UPDATE ON admin_events
    BEGIN SELECT RAISE(ABORT, 'the admin log is append-only'); END;

-- What was requested never changes; only status and updated_at move.
CREATE TRIGGER withdrawals_request_fixed
    BEFORE UPDATE OF id, idempotency_key, request_hash, customer_id, wallet, asset, destination,
        amount_sat, fee_sat, requested_by, created_at ON withdrawals
    BEGIN SELECT RAISE(ABORT, 'a withdrawal''s request fields never change'); END;

CREATE TRIGGER withdrawals_start_pending BEFORE INSERT ON withdrawals
    WHEN NEW.status != 'pending_approval'
    BEGIN SELECT RAISE(ABORT, 'a withdrawal starts pending approval'); END;

-- Keep in step with rules::status::can_transition.
CREATE TRIGGER withdrawals_status_edges BEFORE UPDATE OF status ON withdrawals
    WHEN NEW.status != OLD.status AND NOT (
           (OLD.status = 'pending_approval' AND NEW.status IN ('approved', 'rejected'))
        OR (OLD.status = 'approved' AND NEW.status IN ('batched', 'failed'))
        OR (OLD.status = 'batched' AND NEW.status IN ('signing', 'approved', 'failed'))
        OR (OLD.status = 'signing' AND NEW.status IN ('signed', 'failed'))
        OR (OLD.status = 'signed' AND NEW.status IN ('broadcast', 'failed'))
        OR (OLD.status = 'broadcast' AND NEW.status IN ('confirmed', 'failed'))
        OR (OLD.status = 'confirmed' AND NEW.status = 'broadcast'))
    BEGIN SELECT RAISE(ABORT, 'withdrawal status change not allowed'); END;

CREATE TRIGGER withdrawals_approved_needs_approval BEFORE UPDATE OF status ON withdrawals
    WHEN NEW.status = 'approved' AND OLD.status = 'pending_approval'
        AND NOT EXISTS (SELECT 1 FROM approvals WHERE withdrawal_id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'a withdrawal is approved only with an approval on record'); END;

-- Wallet descriptors never change, and address indexes only grow (no address reuse).
CREATE TRIGGER wallets_descriptor_fixed
    BEFORE UPDATE OF name, wallet_id, kind, receive_descriptor, change_descriptor ON wallets
    BEGIN SELECT RAISE(ABORT, 'a wallet''s descriptors never change'); END;
CREATE TRIGGER wallets_index_grows BEFORE UPDATE ON wallets
    WHEN NEW.next_receive_index < OLD.next_receive_index OR NEW.next_change_index < OLD.next_change_index
    BEGIN SELECT RAISE(ABORT, 'address indexes only grow'); END;
CREATE TRIGGER wallet_addresses_no_update BEFORE UPDATE ON wallet_addresses
    BEGIN SELECT RAISE(ABORT, 'wallet addresses never change'); END;
"#;

/// The processor: the wallets' coins and the signing sessions built from them.
const MIGRATION_2: &str = r#"
CREATE TABLE signing_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wallet TEXT NOT NULL REFERENCES wallets(name),
    unsigned_txid TEXT NOT NULL UNIQUE,
    psbt TEXT NOT NULL,
    fee_sat INTEGER NOT NULL CHECK (fee_sat >= 0),
    change_sat INTEGER CHECK (change_sat > 0),
    status TEXT NOT NULL CHECK (status IN ('open', 'signed', 'broadcast', 'confirmed', 'abandoned')),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX signing_sessions_by_status ON signing_sessions(status, id);

CREATE TABLE session_withdrawals (
    session_id INTEGER NOT NULL REFERENCES signing_sessions(id),
    withdrawal_id INTEGER NOT NULL REFERENCES withdrawals(id),
    output_index INTEGER NOT NULL CHECK (output_index >= 0),
    PRIMARY KEY (session_id, withdrawal_id),
    UNIQUE (session_id, output_index)
);
CREATE INDEX session_withdrawals_by_withdrawal ON session_withdrawals(withdrawal_id);

-- The wallets' coins as the monitor sees them. `prev_tx` is the whole funding
-- transaction: segwit v0 signers need it to prove the amount (CVE-2020-14199).
CREATE TABLE utxos (
    txid TEXT NOT NULL,
    vout INTEGER NOT NULL CHECK (vout >= 0),
    wallet TEXT NOT NULL REFERENCES wallets(name),
    branch INTEGER NOT NULL CHECK (branch IN (0, 1)),
    derivation_index INTEGER NOT NULL CHECK (derivation_index >= 0),
    amount_sat INTEGER NOT NULL CHECK (amount_sat > 0),
    prev_tx TEXT NOT NULL,
    block_height INTEGER,
    quarantined INTEGER NOT NULL DEFAULT 0 CHECK (quarantined IN (0, 1)),
    reserved_by_session INTEGER REFERENCES signing_sessions(id),
    spent_by_txid TEXT,
    observed_at INTEGER NOT NULL,
    PRIMARY KEY (txid, vout)
);
CREATE INDEX utxos_spendable ON utxos(wallet, amount_sat)
    WHERE reserved_by_session IS NULL AND spent_by_txid IS NULL AND quarantined = 0;

CREATE TRIGGER signing_sessions_no_delete BEFORE DELETE ON signing_sessions
    BEGIN SELECT RAISE(ABORT, 'signing sessions are never deleted'); END;
CREATE TRIGGER signing_sessions_psbt_fixed
    BEFORE UPDATE OF id, wallet, unsigned_txid, psbt, fee_sat, change_sat, created_at ON signing_sessions
    BEGIN SELECT RAISE(ABORT, 'a signing session''s transaction never changes'); END;
CREATE TRIGGER session_withdrawals_no_delete BEFORE DELETE ON session_withdrawals
    BEGIN SELECT RAISE(ABORT, 'session membership is append-only'); END;
CREATE TRIGGER session_withdrawals_no_update BEFORE UPDATE ON session_withdrawals
    BEGIN SELECT RAISE(ABORT, 'session membership is append-only'); END;
CREATE TRIGGER utxos_no_delete BEFORE DELETE ON utxos
    BEGIN SELECT RAISE(ABORT, 'coins are marked spent, never deleted'); END;
CREATE TRIGGER utxos_identity_fixed
    BEFORE UPDATE OF txid, vout, wallet, branch, derivation_index, amount_sat, prev_tx ON utxos
    BEGIN SELECT RAISE(ABORT, 'a coin''s identity never changes'); END;
-- A coin goes into one session at a time, and never while quarantined.
CREATE TRIGGER utxos_reserve_once BEFORE UPDATE OF reserved_by_session ON utxos
    WHEN NEW.reserved_by_session IS NOT NULL
        AND (OLD.reserved_by_session IS NOT NULL OR OLD.spent_by_txid IS NOT NULL OR OLD.quarantined = 1)
    BEGIN SELECT RAISE(ABORT, 'coin is reserved, spent or quarantined'); END;
"#;

/// Signing sessions meet their signers: the signers the coordinator knows (their identity
/// keys authenticate online requests) and the partial signatures they returned, each
/// verified against the session's transaction before it is stored.
const MIGRATION_3: &str = r#"
CREATE TABLE signers (
    signer_id TEXT PRIMARY KEY CHECK (length(signer_id) = 16),
    identity_key TEXT NOT NULL UNIQUE CHECK (length(identity_key) = 64),
    -- The BIP32 fingerprint of the signer's master key, as in its `[fingerprint/path]xpub`:
    -- how a session's PSBT (its bip32_derivation) names the keys this signer holds.
    master_fingerprint TEXT NOT NULL CHECK (length(master_fingerprint) = 8),
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);

-- One verified signature by one key on one input of one session. `signer_id` is who
-- posted it online; NULL when it came in through `session import` (SD card or QR).
CREATE TABLE partial_signatures (
    session_id INTEGER NOT NULL REFERENCES signing_sessions(id),
    input_index INTEGER NOT NULL CHECK (input_index >= 0),
    pubkey TEXT NOT NULL,
    signature TEXT NOT NULL,
    signer_id TEXT REFERENCES signers(signer_id),
    received_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, input_index, pubkey)
);

CREATE TRIGGER signers_no_delete BEFORE DELETE ON signers
    BEGIN SELECT RAISE(ABORT, 'signers are deactivated, never deleted'); END;
CREATE TRIGGER signers_key_fixed BEFORE UPDATE OF signer_id, identity_key, master_fingerprint ON signers
    BEGIN SELECT RAISE(ABORT, 'a signer''s identity never changes'); END;
CREATE TRIGGER partial_signatures_no_delete BEFORE DELETE ON partial_signatures
    BEGIN SELECT RAISE(ABORT, 'signatures are never deleted'); END;
CREATE TRIGGER partial_signatures_no_update BEFORE UPDATE ON partial_signatures
    BEGIN SELECT RAISE(ABORT, 'signatures are never changed'); END;
"#;

/// The sender and the monitor: the one transaction each signed session became, and the
/// blocks the monitor has applied (to notice a reorg and undo what it recorded above the
/// fork).
const MIGRATION_4: &str = r#"
CREATE TABLE broadcasts (
    session_id INTEGER PRIMARY KEY REFERENCES signing_sessions(id),
    txid TEXT NOT NULL UNIQUE,
    raw_tx TEXT NOT NULL,
    first_sent_at INTEGER NOT NULL,
    last_sent_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error TEXT,
    block_height INTEGER,
    block_hash TEXT
);
CREATE INDEX broadcasts_unconfirmed ON broadcasts(block_height) WHERE block_height IS NULL;

-- The active chain as the monitor applied it. Rows above a fork are removed when the
-- monitor rolls back a reorg: this is a cache of the chain, not a financial record.
CREATE TABLE chain_blocks (
    height INTEGER PRIMARY KEY CHECK (height >= 0),
    hash TEXT NOT NULL UNIQUE,
    applied_at INTEGER NOT NULL
);

CREATE TRIGGER broadcasts_no_delete BEFORE DELETE ON broadcasts
    BEGIN SELECT RAISE(ABORT, 'broadcast transactions are never deleted'); END;
CREATE TRIGGER broadcasts_tx_fixed BEFORE UPDATE OF session_id, txid, raw_tx ON broadcasts
    BEGIN SELECT RAISE(ABORT, 'a session''s transaction never changes'); END;
"#;

/// Four eyes on configuration: every change that can move money is a proposal one admin
/// makes and another approves (`service::proposals`), and a staff member's token is
/// collected by its holder with a single-use enrollment secret (only hashes stored).
const MIGRATION_5: &str = r#"
CREATE TABLE proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The exact change, as canonical JSON (`service::Change`).
    change TEXT NOT NULL,
    summary TEXT NOT NULL,
    proposed_by TEXT NOT NULL REFERENCES staff(name),
    proposed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at > proposed_at),
    status TEXT NOT NULL CHECK (status IN ('pending', 'applied', 'rejected')),
    decided_by TEXT REFERENCES staff(name),
    decided_at INTEGER,
    reason TEXT,
    CHECK ((status = 'pending') = (decided_by IS NULL)),
    CHECK (status != 'applied' OR decided_by != proposed_by)
);
CREATE INDEX proposals_by_status ON proposals(status, id);

CREATE TABLE enrollments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    secret_hash TEXT NOT NULL UNIQUE CHECK (length(secret_hash) = 64),
    staff_name TEXT NOT NULL REFERENCES staff(name),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at > created_at),
    redeemed_at INTEGER
);

CREATE TRIGGER proposals_no_delete BEFORE DELETE ON proposals
    BEGIN SELECT RAISE(ABORT, 'proposals are decided, never deleted'); END;
CREATE TRIGGER proposals_change_fixed
    BEFORE UPDATE OF id, change, summary, proposed_by, proposed_at, expires_at ON proposals
    BEGIN SELECT RAISE(ABORT, 'a proposal''s change never changes'); END;
CREATE TRIGGER proposals_decided_once BEFORE UPDATE OF status ON proposals
    WHEN OLD.status != 'pending'
    BEGIN SELECT RAISE(ABORT, 'a proposal is decided once'); END;
CREATE TRIGGER enrollments_no_delete BEFORE DELETE ON enrollments
    BEGIN SELECT RAISE(ABORT, 'enrollments are redeemed, never deleted'); END;
CREATE TRIGGER enrollments_used_once BEFORE UPDATE ON enrollments
    WHEN OLD.redeemed_at IS NOT NULL OR NEW.secret_hash != OLD.secret_hash
        OR NEW.staff_name != OLD.staff_name
    BEGIN SELECT RAISE(ABORT, 'an enrollment secret is used once'); END;
"#;

/// Stuck transactions (issue 9 item 6). A fee bump is a new session that spends exactly
/// its original's inputs (`session_replacements`: every session of a group points at the
/// group's first, its root); the group's coins stay reserved by the root. An abandon
/// (`session_abandons`) waits until a confirmed transaction outside the group spends the
/// group's inputs, then returns its withdrawals to `approved`: the only edges back into
/// the queue after signing, and the trigger below allows them only with a released
/// abandon on record. Coins remember the height of the block that spent them, so a reorg
/// can undo a spend. Withdrawal events gain the kinds `fee_bump`, `abandon_requested`
/// and `returned` (the table is rebuilt: SQLite cannot change a CHECK in place; nothing
/// references it).
const MIGRATION_6: &str = r#"
CREATE TABLE session_replacements (
    session_id INTEGER PRIMARY KEY REFERENCES signing_sessions(id),
    replaces_session INTEGER NOT NULL REFERENCES signing_sessions(id),
    root_session INTEGER NOT NULL REFERENCES signing_sessions(id),
    fee_rate_sat_vb INTEGER NOT NULL CHECK (fee_rate_sat_vb > 0),
    approved_by TEXT NOT NULL REFERENCES staff(name),
    approved_at INTEGER NOT NULL,
    CHECK (session_id > replaces_session AND session_id > root_session)
);
CREATE INDEX session_replacements_by_root ON session_replacements(root_session);

CREATE TABLE session_abandons (
    root_session INTEGER PRIMARY KEY REFERENCES signing_sessions(id),
    requested_by TEXT NOT NULL REFERENCES staff(name),
    requested_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    -- NULL while waiting; 'released': a conflicting transaction confirmed and the
    -- withdrawals went back to approved; 'moot': one of the group's own transactions
    -- confirmed after all and paid them.
    resolution TEXT CHECK (resolution IN ('released', 'moot')),
    resolved_txid TEXT,
    resolved_at INTEGER,
    CHECK ((resolution IS NULL) = (resolved_at IS NULL))
);

-- Append-only history of the sessions themselves: bumps, replacements, abandons.
CREATE TABLE session_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES signing_sessions(id),
    kind TEXT NOT NULL CHECK (kind IN ('fee_bump', 'replaced', 'abandon_requested',
        'abandon_released', 'abandon_moot', 'restored')),
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX session_events_by_session ON session_events(session_id, id);

ALTER TABLE utxos ADD COLUMN spent_at_height INTEGER;

CREATE TRIGGER session_replacements_no_delete BEFORE DELETE ON session_replacements
    BEGIN SELECT RAISE(ABORT, 'fee bumps are never deleted'); END;
CREATE TRIGGER session_replacements_no_update BEFORE UPDATE ON session_replacements
    BEGIN SELECT RAISE(ABORT, 'fee bumps never change'); END;
CREATE TRIGGER session_abandons_no_delete BEFORE DELETE ON session_abandons
    BEGIN SELECT RAISE(ABORT, 'abandons are resolved, never deleted'); END;
CREATE TRIGGER session_abandons_resolved_once BEFORE UPDATE ON session_abandons
    WHEN OLD.resolution IS NOT NULL OR NEW.root_session != OLD.root_session
        OR NEW.requested_by != OLD.requested_by OR NEW.requested_at != OLD.requested_at
    BEGIN SELECT RAISE(ABORT, 'an abandon is resolved once'); END;
CREATE TRIGGER session_events_no_delete BEFORE DELETE ON session_events
    BEGIN SELECT RAISE(ABORT, 'session history is append-only'); END;
CREATE TRIGGER session_events_no_update BEFORE UPDATE ON session_events
    BEGIN SELECT RAISE(ABORT, 'session history is append-only'); END;

CREATE TABLE withdrawal_events_v6 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    withdrawal_id INTEGER NOT NULL REFERENCES withdrawals(id),
    kind TEXT NOT NULL CHECK (kind IN ('requested', 'approval_recorded', 'approved', 'rejected',
        'batched', 'signing', 'signed', 'broadcast', 'confirmed', 'failed',
        'fee_bump', 'abandon_requested', 'returned')),
    actor TEXT NOT NULL,
    reason TEXT,
    recorded_at INTEGER NOT NULL
);
INSERT INTO withdrawal_events_v6 (id, withdrawal_id, kind, actor, reason, recorded_at)
    SELECT id, withdrawal_id, kind, actor, reason, recorded_at FROM withdrawal_events ORDER BY id;
DROP TABLE withdrawal_events;
ALTER TABLE withdrawal_events_v6 RENAME TO withdrawal_events;
CREATE INDEX withdrawal_events_by_withdrawal ON withdrawal_events(withdrawal_id, id);
CREATE TRIGGER withdrawal_events_no_delete BEFORE DELETE ON withdrawal_events
    BEGIN SELECT RAISE(ABORT, 'withdrawal history is append-only'); END;
CREATE TRIGGER withdrawal_events_no_update BEFORE UPDATE ON withdrawal_events
    BEGIN SELECT RAISE(ABORT, 'withdrawal history is append-only'); END;

-- Keep in step with rules::status::can_transition: the abandon edges back to approved.
DROP TRIGGER withdrawals_status_edges;
CREATE TRIGGER withdrawals_status_edges BEFORE UPDATE OF status ON withdrawals
    WHEN NEW.status != OLD.status AND NOT (
           (OLD.status = 'pending_approval' AND NEW.status IN ('approved', 'rejected'))
        OR (OLD.status = 'approved' AND NEW.status IN ('batched', 'failed'))
        OR (OLD.status = 'batched' AND NEW.status IN ('signing', 'approved', 'failed'))
        OR (OLD.status = 'signing' AND NEW.status IN ('signed', 'failed', 'approved'))
        OR (OLD.status = 'signed' AND NEW.status IN ('broadcast', 'failed', 'approved'))
        OR (OLD.status = 'broadcast' AND NEW.status IN ('confirmed', 'failed', 'approved'))
        OR (OLD.status = 'confirmed' AND NEW.status = 'broadcast'))
    BEGIN SELECT RAISE(ABORT, 'withdrawal status change not allowed'); END;

-- Once signatures may exist, back to the queue only through a released abandon: a
-- confirmed transaction outside the session's group spent its inputs, so nothing that
-- pays the withdrawal can confirm any more.
CREATE TRIGGER withdrawals_return_needs_release BEFORE UPDATE OF status ON withdrawals
    WHEN NEW.status = 'approved' AND OLD.status IN ('signing', 'signed', 'broadcast')
        AND NOT EXISTS (
            SELECT 1 FROM session_withdrawals sw
            JOIN session_abandons a ON a.root_session = sw.session_id
            WHERE sw.withdrawal_id = NEW.id AND a.resolution = 'released'
              AND NOT EXISTS (SELECT 1 FROM session_withdrawals later
                              WHERE later.withdrawal_id = NEW.id AND later.session_id > sw.session_id
                                AND later.session_id NOT IN (
                                    SELECT session_id FROM session_replacements
                                    WHERE root_session = sw.session_id)))
    BEGIN SELECT RAISE(ABORT, 'a withdrawal returns to approved only through a released abandon of its session'); END;
"#;

/// Stealth mode: each signer's restricted-discovery public key (`descriptor:x25519:...`),
/// which the signer API's onion service encrypts its descriptor to while the signer is
/// active. Optional (signers on loopback or a tunnel need none) and replaceable (rotation).
const MIGRATION_7: &str = r#"
ALTER TABLE signers ADD COLUMN tor_key TEXT
    CHECK (tor_key IS NULL OR (tor_key LIKE 'descriptor:x25519:%' AND length(tor_key) = 70));
"#;

/// Deposits (issue 11 items 1 to 5): deposit wallets (public keys only; the coordinator
/// never spends them: their coins never enter `utxos`, so coin selection cannot see them),
/// the addresses issued from them per customer, the deposits the monitor records, their
/// tags (quarantine) and the resolution decisions for tagged ones; customers' KYC status
/// set by the new `compliance` role; the compliance blocklist.
///
/// `staff` is rebuilt to admit the `compliance` role (SQLite cannot change a CHECK in
/// place; the runner applies migrations with foreign keys off and checks them before
/// commit, as SQLite's documented table-rebuild procedure requires).
///
/// Customers that existed before this migration become verified without expiry, with a
/// history row saying so (existing deployments keep working; compliance should review
/// them); customers added from now on start `unverified`.
const MIGRATION_8: &str = r#"
CREATE TABLE staff_v8 (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    role TEXT NOT NULL CHECK (role IN ('requester', 'approver', 'admin', 'compliance')),
    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    created_by TEXT REFERENCES staff(name)
);
INSERT INTO staff_v8 (name, role, token_hash, active, created_at, created_by)
    SELECT name, role, token_hash, active, created_at, created_by FROM staff;
DROP TABLE staff;
ALTER TABLE staff_v8 RENAME TO staff;
CREATE TRIGGER staff_no_delete BEFORE DELETE ON staff
    BEGIN SELECT RAISE(ABORT, 'staff are deactivated, never deleted'); END;

-- KYC: 'verified' with a NULL `kyc_verified_until` has no expiry; a verification whose
-- date has passed reads as expired (decided in rules::kyc, against the one clock).
ALTER TABLE customers ADD COLUMN kyc_status TEXT NOT NULL DEFAULT 'unverified'
    CHECK (kyc_status IN ('unverified', 'verified', 'revoked'));
ALTER TABLE customers ADD COLUMN kyc_verified_until INTEGER
    CHECK (kyc_verified_until IS NULL OR kyc_status = 'verified');

CREATE TABLE customer_kyc_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    kyc_status TEXT NOT NULL CHECK (kyc_status IN ('unverified', 'verified', 'revoked')),
    verified_until INTEGER,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX customer_kyc_events_by_customer ON customer_kyc_events(customer_id, id);
UPDATE customers SET kyc_status = 'verified';
INSERT INTO customer_kyc_events (customer_id, kyc_status, verified_until, actor, note, recorded_at)
    SELECT id, 'verified', NULL, 'migration',
        'customer existed before KYC tracking: verified without expiry until compliance reviews them',
        CAST(strftime('%s', 'now') AS INTEGER)
    FROM customers ORDER BY id;

CREATE TABLE deposit_wallets (
    wallet TEXT PRIMARY KEY REFERENCES wallets(name),
    address_policy TEXT NOT NULL CHECK (address_policy IN ('per_request', 'per_customer')),
    gap_limit INTEGER NOT NULL CHECK (gap_limit BETWEEN 1 AND 1000),
    credit_confirmations INTEGER NOT NULL CHECK (credit_confirmations BETWEEN 1 AND 1000),
    tag_above_sat INTEGER CHECK (tag_above_sat IS NULL OR tag_above_sat > 0),
    marked_by TEXT NOT NULL REFERENCES staff(name),
    marked_at INTEGER NOT NULL
);

-- Every deposit address: issued to a customer (`customer_id`, `issued_by`), or found by
-- the monitor inside the gap window with a payment although nobody was given it (both
-- NULL: unassigned).
CREATE TABLE deposit_addresses (
    wallet TEXT NOT NULL REFERENCES deposit_wallets(wallet),
    derivation_index INTEGER NOT NULL CHECK (derivation_index >= 0),
    address TEXT NOT NULL,
    script_pubkey TEXT NOT NULL UNIQUE,
    customer_id TEXT REFERENCES customers(id),
    issued_by TEXT REFERENCES staff(name),
    issued_at INTEGER NOT NULL,
    PRIMARY KEY (wallet, derivation_index),
    CHECK ((customer_id IS NULL) = (issued_by IS NULL))
);
CREATE INDEX deposit_addresses_by_customer ON deposit_addresses(wallet, customer_id, derivation_index);

CREATE TABLE deposits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    txid TEXT NOT NULL,
    vout INTEGER NOT NULL CHECK (vout >= 0),
    wallet TEXT NOT NULL,
    derivation_index INTEGER NOT NULL,
    customer_id TEXT REFERENCES customers(id),
    amount_sat INTEGER NOT NULL CHECK (amount_sat > 0),
    -- NULL while not in a block of the active chain (a reorg took it out).
    block_height INTEGER,
    block_hash TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'credited', 'reversed', 'tagged', 'unassigned')),
    first_seen_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (txid, vout),
    FOREIGN KEY (wallet, derivation_index) REFERENCES deposit_addresses(wallet, derivation_index),
    CHECK ((block_height IS NULL) = (block_hash IS NULL)),
    CHECK (status != 'credited' OR block_height IS NOT NULL),
    CHECK ((status = 'unassigned') = (customer_id IS NULL) OR status IN ('tagged', 'reversed'))
);
CREATE INDEX deposits_by_status ON deposits(status, id);
CREATE INDEX deposits_by_height ON deposits(block_height) WHERE block_height IS NOT NULL;

CREATE TABLE deposit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deposit_id INTEGER NOT NULL REFERENCES deposits(id),
    kind TEXT NOT NULL CHECK (kind IN ('seen', 'credited', 'reversed', 'seen_again', 'tagged',
        'resolution_proposed', 'resolution_approved', 'resolution_rejected')),
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX deposit_events_by_deposit ON deposit_events(deposit_id, id);

-- Why a deposit is quarantined: one row per rule that matched or per manual tag.
CREATE TABLE deposit_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deposit_id INTEGER NOT NULL REFERENCES deposits(id),
    rule TEXT NOT NULL CHECK (rule IN ('blocklist', 'amount_threshold', 'kyc', 'unassigned', 'manual')),
    detail TEXT NOT NULL,
    tagged_by TEXT NOT NULL,
    tagged_at INTEGER NOT NULL
);
CREATE INDEX deposit_tags_by_deposit ON deposit_tags(deposit_id, id);

-- Outpoints (`txid:vout`), whole transactions (`txid`) and addresses compliance lists as
-- illicit sources. Entries are deactivated, never deleted.
CREATE TABLE blocklist (
    entry TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('outpoint', 'txid', 'address')),
    note TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    added_by TEXT NOT NULL REFERENCES staff(name),
    added_at INTEGER NOT NULL
);

CREATE TRIGGER customer_kyc_events_no_delete BEFORE DELETE ON customer_kyc_events
    BEGIN SELECT RAISE(ABORT, 'KYC history is append-only'); END;
CREATE TRIGGER customer_kyc_events_no_update BEFORE UPDATE ON customer_kyc_events
    BEGIN SELECT RAISE(ABORT, 'KYC history is append-only'); END;
CREATE TRIGGER deposit_wallets_no_delete BEFORE DELETE ON deposit_wallets
    BEGIN SELECT RAISE(ABORT, 'a deposit wallet stays one'); END;
CREATE TRIGGER deposit_addresses_no_delete BEFORE DELETE ON deposit_addresses
    BEGIN SELECT RAISE(ABORT, 'deposit addresses are never deleted'); END;
CREATE TRIGGER deposit_addresses_no_update BEFORE UPDATE ON deposit_addresses
    BEGIN SELECT RAISE(ABORT, 'a deposit address never changes hands'); END;
CREATE TRIGGER deposits_no_delete BEFORE DELETE ON deposits
    BEGIN SELECT RAISE(ABORT, 'deposits are reversed, never deleted'); END;
CREATE TRIGGER deposits_identity_fixed
    BEFORE UPDATE OF id, txid, vout, wallet, derivation_index, customer_id, amount_sat, first_seen_at ON deposits
    BEGIN SELECT RAISE(ABORT, 'a deposit''s identity never changes'); END;
-- Quarantine is one-way here: a tagged deposit leaves it only through a resolution,
-- which spends it (the shadow), never by becoming creditable.
CREATE TRIGGER deposits_tagged_stays BEFORE UPDATE OF status ON deposits
    WHEN OLD.status = 'tagged' AND NEW.status != 'tagged'
    BEGIN SELECT RAISE(ABORT, 'a tagged deposit is never credited'); END;
CREATE TRIGGER deposits_credit_needs_untagged BEFORE UPDATE OF status ON deposits
    WHEN NEW.status = 'credited' AND EXISTS (SELECT 1 FROM deposit_tags WHERE deposit_id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'a tagged deposit is never credited'); END;
CREATE TRIGGER deposit_events_no_delete BEFORE DELETE ON deposit_events
    BEGIN SELECT RAISE(ABORT, 'deposit history is append-only'); END;
CREATE TRIGGER deposit_events_no_update BEFORE UPDATE ON deposit_events
    BEGIN SELECT RAISE(ABORT, 'deposit history is append-only'); END;
CREATE TRIGGER deposit_tags_no_delete BEFORE DELETE ON deposit_tags
    BEGIN SELECT RAISE(ABORT, 'tags are never removed'); END;
CREATE TRIGGER deposit_tags_no_update BEFORE UPDATE ON deposit_tags
    BEGIN SELECT RAISE(ABORT, 'tags are never changed'); END;
CREATE TRIGGER blocklist_no_delete BEFORE DELETE ON blocklist
    BEGIN SELECT RAISE(ABORT, 'blocklist entries are deactivated, never deleted'); END;

-- What happens to a tagged deposit: compliance proposes returning it to its owner or
-- handing it to an authority (an address compliance enters), an approver (someone else)
-- decides. The spend itself is the shadow's, on an officer-signed instruction.
CREATE TABLE deposit_resolutions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deposit_id INTEGER NOT NULL REFERENCES deposits(id),
    action TEXT NOT NULL CHECK (action IN ('return_to_owner', 'transfer_to_authority')),
    destination TEXT NOT NULL,
    reason TEXT NOT NULL,
    proposed_by TEXT NOT NULL REFERENCES staff(name),
    proposed_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by TEXT REFERENCES staff(name),
    decided_at INTEGER,
    decision_note TEXT,
    CHECK ((status = 'pending') = (decided_by IS NULL)),
    CHECK (decided_by IS NULL OR decided_by != proposed_by)
);
CREATE UNIQUE INDEX deposit_resolutions_one_open ON deposit_resolutions(deposit_id)
    WHERE status IN ('pending', 'approved');
CREATE TRIGGER deposit_resolutions_no_delete BEFORE DELETE ON deposit_resolutions
    BEGIN SELECT RAISE(ABORT, 'resolutions are decided, never deleted'); END;
CREATE TRIGGER deposit_resolutions_fixed
    BEFORE UPDATE OF id, deposit_id, action, destination, reason, proposed_by, proposed_at ON deposit_resolutions
    BEGIN SELECT RAISE(ABORT, 'a resolution''s proposal never changes'); END;
CREATE TRIGGER deposit_resolutions_decided_once BEFORE UPDATE OF status ON deposit_resolutions
    WHEN OLD.status != 'pending'
    BEGIN SELECT RAISE(ABORT, 'a resolution is decided once'); END;
CREATE TRIGGER deposit_resolutions_only_tagged BEFORE INSERT ON deposit_resolutions
    WHEN NOT EXISTS (SELECT 1 FROM deposits WHERE id = NEW.deposit_id AND status = 'tagged')
    BEGIN SELECT RAISE(ABORT, 'only a tagged deposit gets a resolution'); END;

-- The coordinator never spends a deposit wallet: none of its coins is a coin the
-- processor could select, and a wallet with coins or addresses of its own cannot become
-- a deposit wallet.
CREATE TRIGGER utxos_never_deposit BEFORE INSERT ON utxos
    WHEN EXISTS (SELECT 1 FROM deposit_wallets WHERE wallet = NEW.wallet)
    BEGIN SELECT RAISE(ABORT, 'a deposit wallet''s coins are never the coordinator''s to spend'); END;
CREATE TRIGGER wallet_addresses_never_deposit BEFORE INSERT ON wallet_addresses
    WHEN EXISTS (SELECT 1 FROM deposit_wallets WHERE wallet = NEW.wallet)
    BEGIN SELECT RAISE(ABORT, 'a deposit wallet''s addresses are issued as deposit addresses'); END;
CREATE TRIGGER deposit_wallets_unused BEFORE INSERT ON deposit_wallets
    WHEN EXISTS (SELECT 1 FROM utxos WHERE wallet = NEW.wallet)
        OR EXISTS (SELECT 1 FROM wallet_addresses WHERE wallet = NEW.wallet)
        OR EXISTS (SELECT 1 FROM withdrawals WHERE wallet = NEW.wallet)
    BEGIN SELECT RAISE(ABORT, 'a wallet that already has addresses, coins or withdrawals cannot become a deposit wallet'); END;
CREATE TRIGGER withdrawals_never_from_deposit BEFORE INSERT ON withdrawals
    WHEN EXISTS (SELECT 1 FROM deposit_wallets WHERE wallet = NEW.wallet)
    BEGIN SELECT RAISE(ABORT, 'withdrawals are never paid from a deposit wallet'); END;
"#;

/// The tamper-evident audit log (`crate::audit`). The recorded tables append their own
/// entries, so no code path can change them without one and every entry is written in the
/// transaction of its change: each `audit_*` trigger below inserts the entry's kind, time
/// (the row's own, where it has one) and canonical JSON body, and `audit_log_seal` links
/// and signs it with the functions `db::audit_log` registers on every connection (one
/// without the audit key cannot write to a recorded table). Entries never change once
/// sealed and are never deleted. `db::audit_log::check_triggers` refuses a database with
/// any trigger these migrations did not make, so nothing else can run the signing function.
const MIGRATION_9: &str = r#"
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    recorded_at INTEGER,
    prev_hash BLOB,
    entry_hash BLOB,
    signature BLOB
);
CREATE TRIGGER audit_log_seal AFTER INSERT ON audit_log
BEGIN
    UPDATE audit_log SET prev_hash = COALESCE(
        (SELECT entry_hash FROM audit_log WHERE seq < NEW.seq ORDER BY seq DESC LIMIT 1), zeroblob(32))
        WHERE seq = NEW.seq;
    UPDATE audit_log SET entry_hash = sluice_audit_hash(seq, prev_hash, recorded_at, kind, body)
        WHERE seq = NEW.seq;
    UPDATE audit_log SET signature = sluice_audit_sign(entry_hash) WHERE seq = NEW.seq;
END;
CREATE TRIGGER audit_log_sealed_once BEFORE UPDATE ON audit_log WHEN OLD.signature IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'audit entries never change'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit entries are never deleted'); END;

CREATE TRIGGER audit_admin_event AFTER INSERT ON admin_events BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('admin_event', NEW.recorded_at,
        json_object('id', NEW.id, 'actor', NEW.actor, 'action', NEW.action, 'subject', NEW.subject,
            'details', json(NEW.details)));
END;
CREATE TRIGGER audit_staff_added AFTER INSERT ON staff BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('staff_added', NEW.created_at,
        json_object('name', NEW.name, 'role', NEW.role, 'active', NEW.active, 'created_by', NEW.created_by));
END;
CREATE TRIGGER audit_staff_changed AFTER UPDATE ON staff BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('staff_changed', NULL,
        json_object('name', NEW.name, 'role', NEW.role, 'active', NEW.active,
            'token_replaced', json(CASE WHEN NEW.token_hash != OLD.token_hash THEN 'true' ELSE 'false' END)));
END;
CREATE TRIGGER audit_withdrawal_requested AFTER INSERT ON withdrawals BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('withdrawal_requested', NEW.created_at,
        json_object('id', NEW.id, 'idempotency_key', NEW.idempotency_key, 'request_hash', NEW.request_hash,
            'customer_id', NEW.customer_id, 'wallet', NEW.wallet, 'asset', NEW.asset,
            'destination', NEW.destination, 'amount_sat', NEW.amount_sat, 'fee_sat', NEW.fee_sat,
            'status', NEW.status, 'requested_by', NEW.requested_by));
END;
CREATE TRIGGER audit_withdrawal_status AFTER UPDATE OF status ON withdrawals
    WHEN NEW.status != OLD.status BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('withdrawal_status', NEW.updated_at,
        json_object('id', NEW.id, 'from', OLD.status, 'to', NEW.status));
END;
CREATE TRIGGER audit_withdrawal_event AFTER INSERT ON withdrawal_events BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('withdrawal_event', NEW.recorded_at,
        json_object('id', NEW.id, 'withdrawal_id', NEW.withdrawal_id, 'kind', NEW.kind,
            'actor', NEW.actor, 'reason', NEW.reason));
END;
CREATE TRIGGER audit_approval AFTER INSERT ON approvals BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('approval', NEW.approved_at,
        json_object('id', NEW.id, 'withdrawal_id', NEW.withdrawal_id, 'approver', NEW.approver,
            'method', NEW.method, 'detail', NEW.detail));
END;
CREATE TRIGGER audit_proposal AFTER INSERT ON proposals BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('proposal', NEW.proposed_at,
        json_object('id', NEW.id, 'change', json(NEW.change), 'summary', NEW.summary,
            'proposed_by', NEW.proposed_by, 'expires_at', NEW.expires_at));
END;
CREATE TRIGGER audit_proposal_decided AFTER UPDATE OF status ON proposals
    WHEN NEW.status != OLD.status BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('proposal_decided', NEW.decided_at,
        json_object('id', NEW.id, 'status', NEW.status, 'decided_by', NEW.decided_by, 'reason', NEW.reason));
END;
CREATE TRIGGER audit_session_created AFTER INSERT ON signing_sessions BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('session_created', NEW.created_at,
        json_object('id', NEW.id, 'wallet', NEW.wallet, 'unsigned_txid', NEW.unsigned_txid,
            'fee_sat', NEW.fee_sat, 'change_sat', NEW.change_sat, 'created_by', NEW.created_by));
END;
CREATE TRIGGER audit_session_status AFTER UPDATE OF status ON signing_sessions
    WHEN NEW.status != OLD.status BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('session_status', NEW.updated_at,
        json_object('id', NEW.id, 'from', OLD.status, 'to', NEW.status));
END;
CREATE TRIGGER audit_session_event AFTER INSERT ON session_events BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('session_event', NEW.recorded_at,
        json_object('id', NEW.id, 'session_id', NEW.session_id, 'kind', NEW.kind,
            'actor', NEW.actor, 'note', NEW.note));
END;
CREATE TRIGGER audit_session_replacement AFTER INSERT ON session_replacements BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('session_replacement', NEW.approved_at,
        json_object('session_id', NEW.session_id, 'replaces_session', NEW.replaces_session,
            'root_session', NEW.root_session, 'fee_rate_sat_vb', NEW.fee_rate_sat_vb,
            'approved_by', NEW.approved_by));
END;
CREATE TRIGGER audit_session_abandon AFTER INSERT ON session_abandons BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('session_abandon', NEW.requested_at,
        json_object('root_session', NEW.root_session, 'requested_by', NEW.requested_by, 'reason', NEW.reason));
END;
CREATE TRIGGER audit_session_abandon_resolved AFTER UPDATE OF resolution ON session_abandons
    WHEN NEW.resolution IS NOT OLD.resolution BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('session_abandon_resolved', NEW.resolved_at,
        json_object('root_session', NEW.root_session, 'resolution', NEW.resolution,
            'resolved_txid', NEW.resolved_txid));
END;
CREATE TRIGGER audit_signature AFTER INSERT ON partial_signatures BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('signature', NEW.received_at,
        json_object('session_id', NEW.session_id, 'input_index', NEW.input_index, 'pubkey', NEW.pubkey,
            'signer_id', NEW.signer_id));
END;
CREATE TRIGGER audit_signer_registered AFTER INSERT ON signers BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('signer_registered', NEW.created_at,
        json_object('signer_id', NEW.signer_id, 'identity_key', NEW.identity_key,
            'master_fingerprint', NEW.master_fingerprint, 'name', NEW.name, 'active', NEW.active,
            'created_by', NEW.created_by, 'tor_key', NEW.tor_key));
END;
CREATE TRIGGER audit_signer_changed AFTER UPDATE ON signers BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('signer_changed', NULL,
        json_object('signer_id', NEW.signer_id, 'name', NEW.name, 'active', NEW.active, 'tor_key', NEW.tor_key));
END;
CREATE TRIGGER audit_broadcast AFTER INSERT ON broadcasts BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('broadcast', NEW.first_sent_at,
        json_object('session_id', NEW.session_id, 'txid', NEW.txid));
END;
CREATE TRIGGER audit_broadcast_block AFTER UPDATE OF block_height, block_hash ON broadcasts
    WHEN NEW.block_height IS NOT OLD.block_height OR NEW.block_hash IS NOT OLD.block_hash BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('broadcast_block', NULL,
        json_object('session_id', NEW.session_id, 'txid', NEW.txid, 'block_height', NEW.block_height,
            'block_hash', NEW.block_hash));
END;
CREATE TRIGGER audit_wallet_added AFTER INSERT ON wallets BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('wallet_added', NEW.created_at,
        json_object('name', NEW.name, 'wallet_id', NEW.wallet_id, 'kind', NEW.kind,
            'receive_descriptor', NEW.receive_descriptor, 'change_descriptor', NEW.change_descriptor,
            'approval_policy', NEW.approval_policy, 'daily_limit_sat', NEW.daily_limit_sat));
END;
CREATE TRIGGER audit_wallet_policy AFTER UPDATE OF approval_policy, daily_limit_sat ON wallets
    WHEN NEW.approval_policy != OLD.approval_policy OR NEW.daily_limit_sat != OLD.daily_limit_sat BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('wallet_policy', NULL,
        json_object('name', NEW.name, 'approval_policy', NEW.approval_policy,
            'daily_limit_sat', NEW.daily_limit_sat));
END;
CREATE TRIGGER audit_customer_added AFTER INSERT ON customers BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('customer_added', NEW.created_at,
        json_object('id', NEW.id, 'status', NEW.status));
END;
CREATE TRIGGER audit_customer_status AFTER UPDATE OF status ON customers
    WHEN NEW.status != OLD.status BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('customer_status', NULL,
        json_object('id', NEW.id, 'status', NEW.status));
END;
CREATE TRIGGER audit_beneficiary_added AFTER INSERT ON beneficiaries BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('beneficiary_added', NEW.created_at,
        json_object('customer_id', NEW.customer_id, 'address', NEW.address, 'label', NEW.label,
            'network', NEW.network, 'active', NEW.active));
END;
CREATE TRIGGER audit_beneficiary_active AFTER UPDATE OF active ON beneficiaries
    WHEN NEW.active != OLD.active BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('beneficiary_active', NULL,
        json_object('customer_id', NEW.customer_id, 'address', NEW.address, 'active', NEW.active));
END;
CREATE TRIGGER audit_fee_schedule_insert AFTER INSERT ON fee_schedules BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('fee_schedule', NEW.updated_at,
        json_object('asset', NEW.asset, 'kind', NEW.kind, 'flat_sat', NEW.flat_sat,
            'basis_points', NEW.basis_points, 'updated_by', NEW.updated_by));
END;
CREATE TRIGGER audit_fee_schedule_update AFTER UPDATE ON fee_schedules BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('fee_schedule', NEW.updated_at,
        json_object('asset', NEW.asset, 'kind', NEW.kind, 'flat_sat', NEW.flat_sat,
            'basis_points', NEW.basis_points, 'updated_by', NEW.updated_by));
END;
CREATE TRIGGER audit_customer_limit_insert AFTER INSERT ON customer_limits BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('customer_limit', NEW.updated_at,
        json_object('customer_id', NEW.customer_id, 'asset', NEW.asset,
            'daily_limit_sat', NEW.daily_limit_sat, 'updated_by', NEW.updated_by));
END;
CREATE TRIGGER audit_customer_limit_update AFTER UPDATE ON customer_limits BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('customer_limit', NEW.updated_at,
        json_object('customer_id', NEW.customer_id, 'asset', NEW.asset,
            'daily_limit_sat', NEW.daily_limit_sat, 'updated_by', NEW.updated_by));
END;
"#;

/// Deposits still in the node's mempool (issue 11 item 2: unconfirmed deposits visible as
/// pending). Unlike every other table this is not a record but a view of the node, which
/// the monitor replaces each pass: rows come and go with the mempool, nothing here is ever
/// credited, and the deposit ledger (`deposits`) is untouched by it. Not audited for the
/// same reason `chain_blocks` is not: it holds what the node says now, not a decision.
const MIGRATION_10: &str = r#"
CREATE TABLE mempool_deposits (
    txid TEXT NOT NULL CHECK (length(txid) = 64),
    vout INTEGER NOT NULL CHECK (vout >= 0),
    wallet TEXT NOT NULL REFERENCES deposit_wallets(wallet),
    derivation_index INTEGER NOT NULL CHECK (derivation_index >= 0),
    address TEXT NOT NULL,
    -- NULL: an address of the gap window issued to no one.
    customer_id TEXT REFERENCES customers(id),
    amount_sat INTEGER NOT NULL CHECK (amount_sat > 0),
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (txid, vout)
);
"#;

/// The deposit side in the audit log (migration 8 came from a branch beside migration 9's
/// audit log, so its tables had their own history but no entries in the signed chain):
/// KYC changes, deposit wallets, issued addresses, deposits and their status changes,
/// their history, tags, resolutions and the blocklist — every compliance decision and
/// everything the monitor records about deposits. `mempool_deposits` stays out: a view of
/// the node, not a record.
const MIGRATION_11: &str = r#"
CREATE TRIGGER audit_kyc_event AFTER INSERT ON customer_kyc_events BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('kyc_event', NEW.recorded_at,
        json_object('id', NEW.id, 'customer_id', NEW.customer_id, 'kyc_status', NEW.kyc_status,
            'verified_until', NEW.verified_until, 'actor', NEW.actor, 'note', NEW.note));
END;
CREATE TRIGGER audit_deposit_wallet AFTER INSERT ON deposit_wallets BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_wallet', NEW.marked_at,
        json_object('wallet', NEW.wallet, 'address_policy', NEW.address_policy, 'gap_limit', NEW.gap_limit,
            'credit_confirmations', NEW.credit_confirmations, 'tag_above_sat', NEW.tag_above_sat,
            'marked_by', NEW.marked_by));
END;
CREATE TRIGGER audit_deposit_wallet_changed AFTER UPDATE ON deposit_wallets BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_wallet_changed', NEW.marked_at,
        json_object('wallet', NEW.wallet, 'address_policy', NEW.address_policy, 'gap_limit', NEW.gap_limit,
            'credit_confirmations', NEW.credit_confirmations, 'tag_above_sat', NEW.tag_above_sat,
            'marked_by', NEW.marked_by));
END;
CREATE TRIGGER audit_deposit_address AFTER INSERT ON deposit_addresses BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_address', NEW.issued_at,
        json_object('wallet', NEW.wallet, 'derivation_index', NEW.derivation_index, 'address', NEW.address,
            'customer_id', NEW.customer_id, 'issued_by', NEW.issued_by));
END;
CREATE TRIGGER audit_deposit_address_changed AFTER UPDATE ON deposit_addresses BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_address_changed', NEW.issued_at,
        json_object('wallet', NEW.wallet, 'derivation_index', NEW.derivation_index, 'address', NEW.address,
            'customer_id', NEW.customer_id, 'issued_by', NEW.issued_by));
END;
CREATE TRIGGER audit_deposit AFTER INSERT ON deposits BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit', NEW.first_seen_at,
        json_object('id', NEW.id, 'txid', NEW.txid, 'vout', NEW.vout, 'wallet', NEW.wallet,
            'derivation_index', NEW.derivation_index, 'customer_id', NEW.customer_id,
            'amount_sat', NEW.amount_sat, 'block_height', NEW.block_height, 'block_hash', NEW.block_hash,
            'status', NEW.status));
END;
CREATE TRIGGER audit_deposit_changed AFTER UPDATE ON deposits
    WHEN NEW.status IS NOT OLD.status OR NEW.block_hash IS NOT OLD.block_hash BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_changed', NEW.updated_at,
        json_object('id', NEW.id, 'from', OLD.status, 'to', NEW.status,
            'block_height', NEW.block_height, 'block_hash', NEW.block_hash));
END;
CREATE TRIGGER audit_deposit_event AFTER INSERT ON deposit_events BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_event', NEW.recorded_at,
        json_object('id', NEW.id, 'deposit_id', NEW.deposit_id, 'kind', NEW.kind,
            'actor', NEW.actor, 'note', NEW.note));
END;
CREATE TRIGGER audit_deposit_tag AFTER INSERT ON deposit_tags BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_tag', NEW.tagged_at,
        json_object('id', NEW.id, 'deposit_id', NEW.deposit_id, 'rule', NEW.rule, 'detail', NEW.detail,
            'tagged_by', NEW.tagged_by));
END;
CREATE TRIGGER audit_blocklist_entry AFTER INSERT ON blocklist BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('blocklist_entry', NEW.added_at,
        json_object('entry', NEW.entry, 'kind', NEW.kind, 'note', NEW.note, 'active', NEW.active,
            'added_by', NEW.added_by));
END;
CREATE TRIGGER audit_blocklist_changed AFTER UPDATE ON blocklist BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('blocklist_changed', NULL,
        json_object('entry', NEW.entry, 'kind', NEW.kind, 'note', NEW.note, 'active', NEW.active,
            'added_by', NEW.added_by));
END;
CREATE TRIGGER audit_deposit_resolution AFTER INSERT ON deposit_resolutions BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_resolution', NEW.proposed_at,
        json_object('id', NEW.id, 'deposit_id', NEW.deposit_id, 'action', NEW.action,
            'destination', NEW.destination, 'reason', NEW.reason, 'proposed_by', NEW.proposed_by));
END;
CREATE TRIGGER audit_deposit_resolution_decided AFTER UPDATE OF status ON deposit_resolutions
    WHEN NEW.status != OLD.status BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('deposit_resolution_decided', NEW.decided_at,
        json_object('id', NEW.id, 'status', NEW.status, 'decided_by', NEW.decided_by,
            'note', NEW.decision_note));
END;
CREATE TRIGGER audit_customer_kyc AFTER UPDATE OF kyc_status, kyc_verified_until ON customers
    WHEN NEW.kyc_status IS NOT OLD.kyc_status OR NEW.kyc_verified_until IS NOT OLD.kyc_verified_until BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('customer_kyc', NULL,
        json_object('customer_id', NEW.id, 'kyc_status', NEW.kyc_status,
            'verified_until', NEW.kyc_verified_until));
END;
"#;

/// The read-only `shadow` staff role (issue 11 item 6): the shadow system's token reads
/// the deposit ledger and issued addresses and nothing else (`rules::roles`). `staff` is
/// rebuilt as in migration 8 (a CHECK cannot change in place); its triggers, the audit
/// log's included, go with the old table and are made again, word for word, so
/// `db::audit_log::check_triggers` finds exactly the triggers a fresh database has.
const MIGRATION_12: &str = r#"
CREATE TABLE staff_shadow (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    role TEXT NOT NULL CHECK (role IN ('requester', 'approver', 'admin', 'compliance', 'shadow')),
    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    created_by TEXT REFERENCES staff(name)
);
INSERT INTO staff_shadow (name, role, token_hash, active, created_at, created_by)
    SELECT name, role, token_hash, active, created_at, created_by FROM staff;
DROP TABLE staff;
ALTER TABLE staff_shadow RENAME TO staff;
CREATE TRIGGER staff_no_delete BEFORE DELETE ON staff
    BEGIN SELECT RAISE(ABORT, 'staff are deactivated, never deleted'); END;
CREATE TRIGGER audit_staff_added AFTER INSERT ON staff BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('staff_added', NEW.created_at,
        json_object('name', NEW.name, 'role', NEW.role, 'active', NEW.active, 'created_by', NEW.created_by));
END;
CREATE TRIGGER audit_staff_changed AFTER UPDATE ON staff BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('staff_changed', NULL,
        json_object('name', NEW.name, 'role', NEW.role, 'active', NEW.active,
            'token_replaced', json(CASE WHEN NEW.token_hash != OLD.token_hash THEN 'true' ELSE 'false' END)));
END;
"#;

/// Risk flags (`rules::risk`): raised at intake in the withdrawal's own transaction, never
/// changed or deleted. A flagged withdrawal is approved only with a manual approval on
/// record (the rules decide; the trigger is the guard). The risk thresholds, one row,
/// changed only through a four-eyes proposal. Both tables are audited.
const MIGRATION_13: &str = r#"
CREATE TABLE risk_flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    withdrawal_id INTEGER NOT NULL REFERENCES withdrawals(id),
    kind TEXT NOT NULL CHECK (kind IN ('new_beneficiary', 'large_amount', 'velocity', 'shared_destination')),
    reason TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (withdrawal_id, kind)
);
CREATE INDEX withdrawals_by_destination ON withdrawals(destination, customer_id);
CREATE INDEX beneficiaries_by_address ON beneficiaries(address);
CREATE TRIGGER risk_flags_no_update BEFORE UPDATE ON risk_flags
    BEGIN SELECT RAISE(ABORT, 'risk flags never change'); END;
CREATE TRIGGER risk_flags_no_delete BEFORE DELETE ON risk_flags
    BEGIN SELECT RAISE(ABORT, 'risk flags are never deleted'); END;
CREATE TRIGGER withdrawals_flagged_needs_manual BEFORE UPDATE OF status ON withdrawals
    WHEN NEW.status = 'approved' AND OLD.status = 'pending_approval'
        AND EXISTS (SELECT 1 FROM risk_flags WHERE withdrawal_id = NEW.id)
        AND NOT EXISTS (SELECT 1 FROM approvals WHERE withdrawal_id = NEW.id AND method = 'manual')
    BEGIN SELECT RAISE(ABORT, 'a risk-flagged withdrawal is approved only by people'); END;

CREATE TABLE risk_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    settings TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL REFERENCES staff(name)
);
CREATE TRIGGER risk_settings_no_delete BEFORE DELETE ON risk_settings
    BEGIN SELECT RAISE(ABORT, 'risk settings are changed, never deleted'); END;

CREATE TRIGGER audit_risk_flag AFTER INSERT ON risk_flags BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('risk_flag', NEW.recorded_at,
        json_object('id', NEW.id, 'withdrawal_id', NEW.withdrawal_id, 'kind', NEW.kind, 'reason', NEW.reason));
END;
CREATE TRIGGER audit_risk_settings_insert AFTER INSERT ON risk_settings BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('risk_settings', NEW.updated_at,
        json_object('settings', json(NEW.settings), 'updated_by', NEW.updated_by));
END;
CREATE TRIGGER audit_risk_settings_update AFTER UPDATE ON risk_settings BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('risk_settings', NEW.updated_at,
        json_object('settings', json(NEW.settings), 'updated_by', NEW.updated_by));
END;
"#;

/// What online signers report refusing (`POST /v1/signer/sessions/{id}/refusals`): the
/// latest reason per session and signer, with how many reports there were. Audited.
const MIGRATION_14: &str = r#"
CREATE TABLE signer_refusals (
    session_id INTEGER NOT NULL REFERENCES signing_sessions(id),
    signer_id TEXT NOT NULL REFERENCES signers(signer_id),
    reason TEXT NOT NULL CHECK (reason IN ('rate', 'exceeds_burst', 'total_spent', 'paused',
        'invalid_rate', 'inspection')),
    detail TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    reports INTEGER NOT NULL DEFAULT 1 CHECK (reports >= 1),
    PRIMARY KEY (session_id, signer_id)
);
CREATE TRIGGER signer_refusals_no_delete BEFORE DELETE ON signer_refusals
    BEGIN SELECT RAISE(ABORT, 'signer refusals are never deleted'); END;
CREATE TRIGGER audit_signer_refusal_insert AFTER INSERT ON signer_refusals BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('signer_refusal', NEW.reported_at,
        json_object('session_id', NEW.session_id, 'signer_id', NEW.signer_id, 'reason', NEW.reason,
            'detail', NEW.detail));
END;
CREATE TRIGGER audit_signer_refusal_update AFTER UPDATE ON signer_refusals BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('signer_refusal', NEW.reported_at,
        json_object('session_id', NEW.session_id, 'signer_id', NEW.signer_id, 'reason', NEW.reason,
            'detail', NEW.detail));
END;
"#;

/// The webhook outbox (`crate::webhook`). Triggers copy each notable event into
/// `webhook_events` in the transaction that records it, so an event is sent at least once
/// even if the process dies right after committing: withdrawal status changes (and new
/// withdrawals), risk flags, tagged deposits, signer refusals and pauses. Each event gets
/// a random id receivers de-duplicate on. `webhook_deliveries` is the delivery log: one
/// row per attempt per endpoint. Neither table is audited: the events are copies of
/// audited changes, and delivery attempts are operations, not decisions. Nothing here
/// changes or is deleted.
const MIGRATION_15: &str = r#"
CREATE TABLE webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TRIGGER webhook_events_fixed BEFORE UPDATE ON webhook_events
    BEGIN SELECT RAISE(ABORT, 'webhook events never change'); END;
CREATE TRIGGER webhook_events_no_delete BEFORE DELETE ON webhook_events
    BEGIN SELECT RAISE(ABORT, 'webhook events are never deleted'); END;

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event INTEGER NOT NULL REFERENCES webhook_events(id),
    endpoint TEXT NOT NULL,
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    attempted_at_ms INTEGER NOT NULL,
    http_status INTEGER,
    error TEXT,
    delivered INTEGER NOT NULL CHECK (delivered IN (0, 1)),
    next_attempt_at_ms INTEGER
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint, event, id);
CREATE TRIGGER webhook_deliveries_fixed BEFORE UPDATE ON webhook_deliveries
    BEGIN SELECT RAISE(ABORT, 'the webhook delivery log never changes'); END;
CREATE TRIGGER webhook_deliveries_no_delete BEFORE DELETE ON webhook_deliveries
    BEGIN SELECT RAISE(ABORT, 'the webhook delivery log is never deleted'); END;

CREATE TRIGGER outbox_withdrawal_requested AFTER INSERT ON withdrawals BEGIN
    INSERT INTO webhook_events (event_id, kind, payload, created_at) VALUES (lower(hex(randomblob(16))),
        'withdrawal.status', json_object('withdrawal_id', NEW.id, 'from', NULL, 'to', NEW.status,
            'customer_id', NEW.customer_id, 'wallet', NEW.wallet, 'destination', NEW.destination,
            'amount_sat', NEW.amount_sat), NEW.created_at);
END;
CREATE TRIGGER outbox_withdrawal_status AFTER UPDATE OF status ON withdrawals
    WHEN NEW.status != OLD.status BEGIN
    INSERT INTO webhook_events (event_id, kind, payload, created_at) VALUES (lower(hex(randomblob(16))),
        'withdrawal.status', json_object('withdrawal_id', NEW.id, 'from', OLD.status, 'to', NEW.status,
            'customer_id', NEW.customer_id, 'wallet', NEW.wallet, 'destination', NEW.destination,
            'amount_sat', NEW.amount_sat), NEW.updated_at);
END;
CREATE TRIGGER outbox_risk_flag AFTER INSERT ON risk_flags BEGIN
    INSERT INTO webhook_events (event_id, kind, payload, created_at) VALUES (lower(hex(randomblob(16))),
        'withdrawal.flagged', json_object('withdrawal_id', NEW.withdrawal_id, 'flag', NEW.kind,
            'reason', NEW.reason), NEW.recorded_at);
END;
CREATE TRIGGER outbox_deposit_tagged AFTER INSERT ON deposit_events WHEN NEW.kind = 'tagged' BEGIN
    INSERT INTO webhook_events (event_id, kind, payload, created_at) VALUES (lower(hex(randomblob(16))),
        'deposit.tagged', json_object('deposit_id', NEW.deposit_id, 'actor', NEW.actor, 'note', NEW.note),
        NEW.recorded_at);
END;
CREATE TRIGGER outbox_signer_refusal_insert AFTER INSERT ON signer_refusals BEGIN
    INSERT INTO webhook_events (event_id, kind, payload, created_at) VALUES (lower(hex(randomblob(16))),
        CASE WHEN NEW.reason = 'paused' THEN 'signer.paused' ELSE 'signer.refusal' END,
        json_object('session_id', NEW.session_id, 'signer_id', NEW.signer_id, 'reason', NEW.reason,
            'detail', NEW.detail), NEW.reported_at);
END;
CREATE TRIGGER outbox_signer_refusal_update AFTER UPDATE ON signer_refusals BEGIN
    INSERT INTO webhook_events (event_id, kind, payload, created_at) VALUES (lower(hex(randomblob(16))),
        CASE WHEN NEW.reason = 'paused' THEN 'signer.paused' ELSE 'signer.refusal' END,
        json_object('session_id', NEW.session_id, 'signer_id', NEW.signer_id, 'reason', NEW.reason,
            'detail', NEW.detail), NEW.reported_at);
END;
"#;

/// The web console's sign-in (issue 12 items 1 and 2): each staff member's password
/// (an Argon2id PHC string), TOTP secret and the last time step it accepted (a code is
/// used once), failed attempts and lockout; and console sessions, kept by the SHA-256 of
/// their id only (a copy of the database does not let anyone act as a signed-in person).
/// Credentials change in place (a new password, a new enrollment); sessions are ended,
/// never deleted. Every sign-in, refusal past the lockout threshold and sign-out is an
/// admin event, so it is in the signed audit chain.
const MIGRATION_16: &str = r#"
CREATE TABLE staff_credentials (
    staff_name TEXT PRIMARY KEY REFERENCES staff(name),
    password_hash TEXT NOT NULL,
    totp_secret BLOB NOT NULL,
    totp_last_step INTEGER,
    failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE TRIGGER staff_credentials_no_delete BEFORE DELETE ON staff_credentials
    BEGIN SELECT RAISE(ABORT, 'credentials are replaced, never deleted'); END;
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    staff_name TEXT NOT NULL REFERENCES staff(name),
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ended_at INTEGER
);
CREATE INDEX console_sessions_by_staff ON console_sessions (staff_name);
CREATE TRIGGER console_sessions_no_delete BEFORE DELETE ON console_sessions
    BEGIN SELECT RAISE(ABORT, 'console sessions are ended, never deleted'); END;
-- When each online signer last made an authenticated request (the console's dashboard);
-- operational, not audited, written at most every 30 s per signer.
CREATE TABLE signer_contacts (
    signer_id TEXT PRIMARY KEY,
    last_contact_at INTEGER NOT NULL
);
-- Setting credentials and opening a session are in the signed chain (never the secrets or
-- hashes themselves), so a connection without the audit key cannot plant a password, a
-- TOTP secret or a session of its own.
CREATE TRIGGER audit_console_credentials_set AFTER INSERT ON staff_credentials BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('console_credentials', NEW.updated_at,
        json_object('name', NEW.staff_name));
END;
CREATE TRIGGER audit_console_credentials_changed AFTER UPDATE OF password_hash, totp_secret
    ON staff_credentials BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('console_credentials', NEW.updated_at,
        json_object('name', NEW.staff_name));
END;
CREATE TRIGGER audit_console_session AFTER INSERT ON console_sessions BEGIN
    INSERT INTO audit_log (kind, recorded_at, body) VALUES ('console_session', NEW.created_at,
        json_object('name', NEW.staff_name));
END;
"#;

/// Daily limits from running totals, and intake's risk queries from their index alone
/// (issue 14 item 1). Intake summed the day's withdrawals of the customer and of the wallet
/// for every request, so a request cost a row per earlier withdrawal that day (the
/// wallet's sum alone was 8-12 % of the coordinator's CPU in the 2,000-withdrawal
/// benchmark, and it grows all day). `daily_outflow` keeps those sums per UTC day, kept by
/// triggers in the transaction of every change that moves them: a withdrawal counts from
/// its request until it is rejected or fails, the same rule the sums had. Its rows are
/// written only by those triggers: each write calls `sluice_coordinator_write`, a
/// function registered only on the coordinator's own connections (with the audit
/// functions), so another program's connection cannot lower a total; and
/// `db::audit_log::check_triggers` refuses a database where any `outflow_` trigger was
/// dropped or changed. The velocity window and the destination count read only their
/// index (status and amount in it), so a row costs one index entry, not a table lookup.
const MIGRATION_17: &str = r#"
CREATE TABLE daily_outflow (
    scope TEXT NOT NULL CHECK (scope IN ('customer', 'wallet')),
    name TEXT NOT NULL,
    asset TEXT NOT NULL,
    day INTEGER NOT NULL,
    amount_sat INTEGER NOT NULL CHECK (amount_sat >= 0),
    PRIMARY KEY (scope, name, day, asset)
) WITHOUT ROWID;
INSERT INTO daily_outflow (scope, name, asset, day, amount_sat)
    SELECT 'customer', customer_id, asset,
        (created_at - ((created_at % 86400) + 86400) % 86400) / 86400 AS d, SUM(amount_sat)
    FROM withdrawals WHERE status NOT IN ('rejected', 'failed') GROUP BY customer_id, asset, d;
INSERT INTO daily_outflow (scope, name, asset, day, amount_sat)
    SELECT 'wallet', wallet, asset,
        (created_at - ((created_at % 86400) + 86400) % 86400) / 86400 AS d, SUM(amount_sat)
    FROM withdrawals WHERE status NOT IN ('rejected', 'failed') GROUP BY wallet, asset, d;
CREATE TRIGGER outflow_counts_a_request AFTER INSERT ON withdrawals
    WHEN NEW.status NOT IN ('rejected', 'failed') BEGIN
    INSERT INTO daily_outflow (scope, name, asset, day, amount_sat) VALUES ('customer',
        NEW.customer_id, NEW.asset,
        (NEW.created_at - ((NEW.created_at % 86400) + 86400) % 86400) / 86400, NEW.amount_sat)
        ON CONFLICT DO UPDATE SET amount_sat = amount_sat + excluded.amount_sat;
    INSERT INTO daily_outflow (scope, name, asset, day, amount_sat) VALUES ('wallet',
        NEW.wallet, NEW.asset,
        (NEW.created_at - ((NEW.created_at % 86400) + 86400) % 86400) / 86400, NEW.amount_sat)
        ON CONFLICT DO UPDATE SET amount_sat = amount_sat + excluded.amount_sat;
END;
CREATE TRIGGER outflow_releases_a_dropped_withdrawal AFTER UPDATE OF status ON withdrawals
    WHEN OLD.status NOT IN ('rejected', 'failed') AND NEW.status IN ('rejected', 'failed') BEGIN
    UPDATE daily_outflow SET amount_sat = amount_sat - OLD.amount_sat
        WHERE scope = 'customer' AND name = OLD.customer_id AND asset = OLD.asset
        AND day = (OLD.created_at - ((OLD.created_at % 86400) + 86400) % 86400) / 86400;
    UPDATE daily_outflow SET amount_sat = amount_sat - OLD.amount_sat
        WHERE scope = 'wallet' AND name = OLD.wallet AND asset = OLD.asset
        AND day = (OLD.created_at - ((OLD.created_at % 86400) + 86400) % 86400) / 86400;
END;
-- Never taken (rejected and failed are final), but the totals stay exact whatever the
-- status edges allow.
CREATE TRIGGER outflow_counts_a_revived_withdrawal AFTER UPDATE OF status ON withdrawals
    WHEN OLD.status IN ('rejected', 'failed') AND NEW.status NOT IN ('rejected', 'failed') BEGIN
    UPDATE daily_outflow SET amount_sat = amount_sat + OLD.amount_sat
        WHERE scope = 'customer' AND name = OLD.customer_id AND asset = OLD.asset
        AND day = (OLD.created_at - ((OLD.created_at % 86400) + 86400) % 86400) / 86400;
    UPDATE daily_outflow SET amount_sat = amount_sat + OLD.amount_sat
        WHERE scope = 'wallet' AND name = OLD.wallet AND asset = OLD.asset
        AND day = (OLD.created_at - ((OLD.created_at % 86400) + 86400) % 86400) / 86400;
END;
CREATE TRIGGER outflow_written_by_the_coordinator_insert BEFORE INSERT ON daily_outflow
    BEGIN SELECT sluice_coordinator_write(); END;
CREATE TRIGGER outflow_written_by_the_coordinator_update BEFORE UPDATE ON daily_outflow
    BEGIN SELECT sluice_coordinator_write(); END;
CREATE TRIGGER outflow_never_deleted BEFORE DELETE ON daily_outflow
    BEGIN SELECT RAISE(ABORT, 'daily outflow totals are never deleted'); END;
DROP INDEX withdrawals_by_customer_day;
CREATE INDEX withdrawals_by_customer_time ON withdrawals(customer_id, created_at, status, amount_sat);
DROP INDEX withdrawals_by_destination;
CREATE INDEX withdrawals_by_destination ON withdrawals(destination, customer_id, status);
"#;

/// The audit key signs once per transaction, not once per entry (issue 14 item 1: five
/// BIP340 signatures per withdrawal request were 15-22 % of the coordinator's CPU at
/// intake). An entry is still hashed and linked to the one before it as it is written;
/// its signature is left empty, and `db::audit_log::sign_newest` signs the newest entry
/// when the transaction commits (`db::WriteTransaction::commit`). A signature on entry N
/// covers every entry up to N through the hash links, so `audit::verify` asks for a valid
/// signature on every entry that has one and on the newest entry (`audit::chain`). The
/// seal computes the link and the hash in one update, and the guard now also lets the
/// one change a hashed entry may take: its empty signature set, nothing else.
const MIGRATION_18: &str = r#"
DROP TRIGGER audit_log_seal;
CREATE TRIGGER audit_log_seal AFTER INSERT ON audit_log
BEGIN
    UPDATE audit_log SET (prev_hash, entry_hash) = (
        SELECT link, sluice_audit_hash(NEW.seq, link, NEW.recorded_at, NEW.kind, NEW.body)
        FROM (SELECT COALESCE(
            (SELECT entry_hash FROM audit_log WHERE seq < NEW.seq ORDER BY seq DESC LIMIT 1),
            zeroblob(32)) AS link))
        WHERE seq = NEW.seq;
END;
DROP TRIGGER audit_log_sealed_once;
CREATE TRIGGER audit_log_sealed_once BEFORE UPDATE ON audit_log
    WHEN OLD.signature IS NOT NULL
        OR (OLD.entry_hash IS NOT NULL AND (NEW.signature IS NULL
            OR NEW.seq IS NOT OLD.seq OR NEW.kind IS NOT OLD.kind OR NEW.body IS NOT OLD.body
            OR NEW.recorded_at IS NOT OLD.recorded_at OR NEW.prev_hash IS NOT OLD.prev_hash
            OR NEW.entry_hash IS NOT OLD.entry_hash))
    BEGIN SELECT RAISE(ABORT, 'audit entries never change'); END;
"#;

/// A customer's most recent withdrawals from an index in id order (issue 14 item 1):
/// intake's risk rules read the amounts of the customer's latest few, and without it
/// SQLite sorted every withdrawal the customer ever made on every request
/// (`risk::RECENT_AMOUNTS`; `db_tests` checks the plan). The index holds the customer and
/// (implicitly) the id only, not the status: a covering index would be rewritten on each
/// of a withdrawal's six status changes, to save looking up the latest twenty rows.
const MIGRATION_19: &str = r#"
CREATE INDEX withdrawals_by_customer_recent ON withdrawals(customer_id);
"#;

/// Webhook event ids that start with the event's time (issue 14 item 1): still 32 hex
/// digits and unique, now 12 digits of the Unix second followed by 20 random ones (80
/// bits). Fully random ids put each new event at a random place in the `event_id` index,
/// so every request and status change dirtied another index page to journal and write;
/// ids in time order are appended at the end of the index. Only the two triggers on
/// withdrawals (the frequent ones) change.
const MIGRATION_20: &str = r#"
DROP TRIGGER outbox_withdrawal_requested;
CREATE TRIGGER outbox_withdrawal_requested AFTER INSERT ON withdrawals BEGIN
    INSERT INTO webhook_events (event_id, kind, payload, created_at) VALUES (
        printf('%012x', NEW.created_at) || lower(hex(randomblob(10))),
        'withdrawal.status', json_object('withdrawal_id', NEW.id, 'from', NULL, 'to', NEW.status,
            'customer_id', NEW.customer_id, 'wallet', NEW.wallet, 'destination', NEW.destination,
            'amount_sat', NEW.amount_sat), NEW.created_at);
END;
DROP TRIGGER outbox_withdrawal_status;
CREATE TRIGGER outbox_withdrawal_status AFTER UPDATE OF status ON withdrawals
    WHEN NEW.status != OLD.status BEGIN
    INSERT INTO webhook_events (event_id, kind, payload, created_at) VALUES (
        printf('%012x', NEW.updated_at) || lower(hex(randomblob(10))),
        'withdrawal.status', json_object('withdrawal_id', NEW.id, 'from', OLD.status, 'to', NEW.status,
            'customer_id', NEW.customer_id, 'wallet', NEW.wallet, 'destination', NEW.destination,
            'amount_sat', NEW.amount_sat), NEW.updated_at);
END;
"#;

/// The risk rules' two indexes hold whether a withdrawal was rejected, not its status
/// (issue 14 item 1). The rules only ask "not rejected", but with `status` in the index
/// each of a withdrawal's six status changes rewrote an entry in both indexes (and
/// copied their pages into the statement journal). `rejected` changes once, when the
/// status becomes `rejected` (final: no edge leaves it), set by a trigger in the same
/// statement; a guard keeps it equal to that. Were the trigger dropped, rejected requests
/// would count as not rejected: more flags, never fewer.
const MIGRATION_21: &str = r#"
ALTER TABLE withdrawals ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0 CHECK (rejected IN (0, 1));
UPDATE withdrawals SET rejected = 1 WHERE status = 'rejected';
CREATE TRIGGER withdrawals_mark_rejected AFTER UPDATE OF status ON withdrawals
    WHEN NEW.status = 'rejected' AND OLD.status != 'rejected' BEGIN
    UPDATE withdrawals SET rejected = 1 WHERE id = NEW.id;
END;
CREATE TRIGGER withdrawals_rejected_follows_status BEFORE UPDATE OF rejected ON withdrawals
    WHEN NEW.rejected != (NEW.status = 'rejected')
    BEGIN SELECT RAISE(ABORT, 'a withdrawal is marked rejected exactly when its status is rejected'); END;
DROP INDEX withdrawals_by_customer_time;
CREATE INDEX withdrawals_by_customer_time ON withdrawals(customer_id, created_at, rejected, amount_sat);
DROP INDEX withdrawals_by_destination;
CREATE INDEX withdrawals_by_destination ON withdrawals(destination, customer_id, rejected);
"#;

/// The processor moves a withdrawal from `approved` straight to `signing` (issue 14 item
/// 1). It used to go `approved` → `batched` → `signing` with an event each, in the one
/// transaction that opens the signing session: no reader could ever see `batched`, and
/// the extra status change and event (with their audit entries and webhook event) were
/// about 45 µs per withdrawal inside the write lock. `batched` stays a valid status, and
/// its edges stay allowed, for the histories and webhook events already recorded.
const MIGRATION_22: &str = r#"
DROP TRIGGER withdrawals_status_edges;
CREATE TRIGGER withdrawals_status_edges BEFORE UPDATE OF status ON withdrawals
    WHEN NEW.status != OLD.status AND NOT (
           (OLD.status = 'pending_approval' AND NEW.status IN ('approved', 'rejected'))
        OR (OLD.status = 'approved' AND NEW.status IN ('signing', 'batched', 'failed'))
        OR (OLD.status = 'batched' AND NEW.status IN ('signing', 'approved', 'failed'))
        OR (OLD.status = 'signing' AND NEW.status IN ('signed', 'failed', 'approved'))
        OR (OLD.status = 'signed' AND NEW.status IN ('broadcast', 'failed', 'approved'))
        OR (OLD.status = 'broadcast' AND NEW.status IN ('confirmed', 'failed', 'approved'))
        OR (OLD.status = 'confirmed' AND NEW.status = 'broadcast'))
    BEGIN SELECT RAISE(ABORT, 'withdrawal status change not allowed'); END;
"#;
