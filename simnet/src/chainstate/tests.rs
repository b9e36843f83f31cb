//! Block-level rules and fork choice, on blocks built as simnet mines them. Coins pay
//! P2WSH(OP_TRUE) so spends need no signatures: the witness is the script itself.

use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};

use super::ChainState;
use crate::mining::{build_block, Parent};

fn anyone() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

fn anyone_p2wsh() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&anyone().wscript_hash())
}

fn parent_of(chain: &ChainState, hash: BlockHash) -> Parent {
    let (_, height, _) = chain.block(&hash).unwrap();
    Parent {
        hash,
        height,
        median_time_past: chain.block_mtp(&hash).unwrap(),
    }
}

/// A block on `parent` holding `txs`, at time `time`.
fn block_on(chain: &ChainState, parent: BlockHash, txs: &[Transaction], time: u32) -> Block {
    let fees = Amount::ZERO;
    let txs: Vec<_> = txs.iter().cloned().map(std::sync::Arc::new).collect();
    build_block(parent_of(chain, parent), &txs, fees, &anyone_p2wsh(), time)
}

/// Extends the active chain by `n` blocks; returns their hashes.
fn extend(chain: &mut ChainState, n: u32) -> Vec<BlockHash> {
    (0..n)
        .map(|i| {
            let block = block_on(chain, chain.tip_hash(), &[], 1_800_000_000 + i);
            let hash = chain.add_block(block).unwrap();
            chain.activate_best_chain();
            assert_eq!(chain.tip_hash(), hash);
            hash
        })
        .collect()
}

fn spend(outpoint: OutPoint, value: Amount, witness_script: &ScriptBuf) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[witness_script.as_bytes()]),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: anyone_p2wsh(),
        }],
    }
}

/// Re-solves a block after its transactions changed.
fn resolve(block: &mut Block) {
    block.header.merkle_root = block
        .compute_merkle_root()
        .unwrap_or_else(TxMerkleNode::all_zeros);
    let target = block.header.target();
    while block.header.validate_pow(target).is_err() {
        block.header.nonce += 1;
    }
}

use bitcoin::hashes::Hash as _;

#[test]
fn the_longest_valid_branch_wins_and_ties_keep_the_first_seen() {
    let mut chain = ChainState::new();
    let genesis = chain.tip_hash();
    let a = extend(&mut chain, 3);
    // A competing branch of equal length arriving later: no switch.
    let mut b = Vec::new();
    let mut parent = genesis;
    for i in 0..3 {
        let block = block_on(&chain, parent, &[], 1_900_000_000 + i);
        parent = chain.add_block(block).unwrap();
        b.push(parent);
    }
    assert!(chain.activate_best_chain().connected.is_empty());
    assert_eq!(chain.tip_hash(), a[2]);
    // One more block on it: it has more work now, so the chain reorganises.
    let block = block_on(&chain, parent, &[], 1_900_000_010);
    let b4 = chain.add_block(block).unwrap();
    let change = chain.activate_best_chain();
    assert_eq!(chain.tip_hash(), b4);
    assert_eq!(change.disconnected.len(), 3);
    assert_eq!(change.connected.len(), 4);
    assert_eq!(chain.confirmations(&a[0]), -1);
    assert_eq!(chain.confirmations(&b[0]), 4);
    let tips = chain.chain_tips();
    assert_eq!(
        (tips[0].status, tips[1].status, tips[1].branch_len),
        ("active", "valid-fork", 3)
    );
}

#[test]
fn proof_of_work_merkle_root_and_coinbase_height_are_checked() {
    let mut chain = ChainState::new();
    let tip = chain.tip_hash();
    let good = block_on(&chain, tip, &[], 1_800_000_000);

    let mut no_work = good.clone();
    while no_work.header.validate_pow(no_work.header.target()).is_ok() {
        no_work.header.nonce += 1;
    }
    assert_eq!(chain.add_block(no_work).unwrap_err().reason, "high-hash");

    let mut easier = good.clone();
    easier.header.bits = bitcoin::CompactTarget::from_consensus(0x2100_ffff);
    assert_eq!(chain.add_block(easier).unwrap_err().reason, "bad-diffbits");

    let mut wrong_root = good.clone();
    wrong_root.header.merkle_root = TxMerkleNode::all_zeros();
    let target = wrong_root.header.target();
    while wrong_root.header.validate_pow(target).is_err() {
        wrong_root.header.nonce += 1;
    }
    assert_eq!(chain.add_block(wrong_root).unwrap_err().reason, "bad-txnmrklroot");

    let mut orphan = good.clone();
    orphan.header.prev_blockhash = BlockHash::all_zeros();
    resolve(&mut orphan);
    assert_eq!(chain.add_block(orphan).unwrap_err().reason, "prev-blk-not-found");

    // BIP34: the coinbase says height 2 for a block at height 1. It passes the
    // context-free checks, then fails when connected and is marked invalid.
    let mut wrong_height = good.clone();
    wrong_height.txdata[0].input[0].script_sig = ScriptBuf::from_bytes(vec![0x52, 0x00]);
    resolve(&mut wrong_height);
    let hash = chain.add_block(wrong_height).unwrap();
    chain.activate_best_chain();
    assert_eq!(chain.tip_hash(), tip);
    assert_eq!(chain.failure(&hash), Some("bad-cb-height"));

    let hash = chain.add_block(good.clone()).unwrap();
    chain.activate_best_chain();
    assert_eq!(chain.tip_hash(), hash);
    assert_eq!(chain.add_block(good).unwrap_err().reason, "duplicate");
}

#[test]
fn connecting_checks_inputs_maturity_scripts_and_the_coinbase_amount() {
    let mut chain = ChainState::new();
    let blocks = extend(&mut chain, 101);
    let (first, _, _) = chain.block(&blocks[0]).unwrap();
    let coin = OutPoint::new(first.txdata[0].compute_txid(), 0);
    let value = Amount::from_btc(50.0).unwrap();
    let tip = chain.tip_hash();
    let try_block = |chain: &mut ChainState, txs: &[Transaction], time: u32| {
        let block = block_on(chain, tip, txs, time);
        let hash = chain.add_block(block).unwrap();
        chain.activate_best_chain();
        (chain.tip_hash() == hash, chain.failure(&hash).map(str::to_owned))
    };

    let wrong_script = ScriptBuf::from_bytes(vec![0x52]);
    let (ok, why) = try_block(&mut chain, &[spend(coin, value, &wrong_script)], 1_900_000_001);
    assert!(!ok);
    assert!(why.unwrap().starts_with("block-script-verify-flag-failed"));

    let missing = OutPoint::new(coin.txid, 7);
    let (ok, why) = try_block(&mut chain, &[spend(missing, value, &anyone())], 1_900_000_002);
    assert_eq!(
        (ok, why.as_deref()),
        (false, Some("bad-txns-inputs-missingorspent"))
    );

    let greedy = spend(coin, value + Amount::from_sat(1), &anyone());
    let (ok, why) = try_block(&mut chain, &[greedy], 1_900_000_003);
    assert_eq!((ok, why.as_deref()), (false, Some("bad-txns-in-belowout")));

    let (last, _, _) = chain.block(&blocks[100]).unwrap();
    let young = OutPoint::new(last.txdata[0].compute_txid(), 0);
    let (ok, why) = try_block(&mut chain, &[spend(young, value, &anyone())], 1_900_000_004);
    assert_eq!(
        (ok, why.as_deref()),
        (false, Some("bad-txns-premature-spend-of-coinbase"))
    );

    // A coinbase claiming a satoshi more than subsidy + fees.
    let mut greedy_miner = block_on(&chain, tip, &[], 1_900_000_005);
    greedy_miner.txdata[0].output[0].value += Amount::from_sat(1);
    resolve(&mut greedy_miner);
    let hash = chain.add_block(greedy_miner).unwrap();
    chain.activate_best_chain();
    assert_eq!(chain.failure(&hash), Some("bad-cb-amount"));

    // A spend and a spend of that spend in one block, then taken off again.
    let parent = spend(coin, value - Amount::from_sat(1000), &anyone());
    let child = spend(
        OutPoint::new(parent.compute_txid(), 0),
        value - Amount::from_sat(2000),
        &anyone(),
    );
    let (ok, why) = try_block(&mut chain, &[parent.clone(), child.clone()], 1_900_000_006);
    assert!(ok, "{why:?}");
    assert!(chain.coin(&coin).is_none());
    assert!(chain.coin(&OutPoint::new(parent.compute_txid(), 0)).is_none());
    assert!(chain.coin(&OutPoint::new(child.compute_txid(), 0)).is_some());
    let utxos_after = chain.utxo_count();
    chain.disconnect_tip();
    assert!(chain.coin(&coin).is_some(), "the spent coinbase is back");
    assert!(chain.coin(&OutPoint::new(child.compute_txid(), 0)).is_none());
    assert_eq!(chain.utxo_count(), utxos_after - 1 - 1 + 1);
}
