//! Mempool admission and mining through [`Node`], with P2WSH(OP_TRUE) coins so spends need
//! no signatures (the witness is the script itself).

use bitcoin::{
    absolute, transaction, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};

use super::node::Node;

const NOW: u64 = 1_800_000_000;

fn anyone_p2wsh() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&ScriptBuf::from_bytes(vec![0x51]).wscript_hash())
}

/// Spends `inputs` to one output per value, with `sequence` on every input.
fn spend(inputs: &[OutPoint], values: &[Amount], sequence: u32) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: inputs
            .iter()
            .map(|outpoint| TxIn {
                previous_output: *outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence(sequence),
                witness: Witness::from_slice(&[[0x51]]),
            })
            .collect(),
        output: values
            .iter()
            .map(|value| TxOut {
                value: *value,
                script_pubkey: anyone_p2wsh(),
            })
            .collect(),
    }
}

/// A node with 101 blocks paying P2WSH(OP_TRUE); returns it and the coinbase of block `n`.
fn funded() -> (Node, impl Fn(&Node, u32) -> OutPoint) {
    let mut node = Node::in_memory();
    node.mine(101, &anyone_p2wsh(), NOW, true).unwrap();
    let coinbase = |node: &Node, height: u32| {
        let hash = node.chain().hash_at(height).unwrap();
        let (block, _, _) = node.chain().block(&hash).unwrap();
        OutPoint::new(block.txdata[0].compute_txid(), 0)
    };
    (node, coinbase)
}

fn sat(n: u64) -> Amount {
    Amount::from_sat(n)
}

const COIN: u64 = 5_000_000_000;

#[test]
fn unconfirmed_clusters_stop_at_64() {
    let (mut node, coinbase) = funded();
    let mut outpoint = coinbase(&node, 1);
    let mut value = COIN;
    for _ in 0..64 {
        value -= 1000;
        let tx = spend(&[outpoint], &[sat(value)], u32::MAX);
        outpoint = OutPoint::new(node.submit(tx, NOW, 0).unwrap(), 0);
    }
    let refused = node
        .submit(spend(&[outpoint], &[sat(value - 1000)], u32::MAX), NOW, 0)
        .unwrap_err();
    assert_eq!(
        (refused.code, refused.reason.as_str()),
        (-26, "too-large-cluster")
    );
    // All 64 fit in one block, parents before children.
    let hash = node.mine(1, &anyone_p2wsh(), NOW, true).unwrap()[0];
    assert_eq!(node.chain().block(&hash).unwrap().0.txdata.len(), 65);
    assert!(node.mempool().is_empty());
}

#[test]
fn policy_refusals_carry_cores_reasons() {
    let (mut node, coinbase) = funded();
    let coin = coinbase(&node, 1);
    let reason = |node: &mut Node, tx| node.submit(tx, NOW, 0).unwrap_err().message();
    assert_eq!(
        reason(&mut node, spend(&[coin], &[sat(100)], u32::MAX)).as_str(),
        "dust, tx with dust output must be 0-fee"
    );
    assert_eq!(
        reason(&mut node, spend(&[coin], &[sat(100), sat(100)], u32::MAX)).as_str(),
        "dust"
    );
    assert_eq!(
        reason(&mut node, spend(&[coin], &[sat(COIN)], u32::MAX)).as_str(),
        "min relay fee not met, 0 < 10"
    );
    // BIP68: 5 blocks after a coin 101 blocks deep is met; 200 blocks is not.
    assert_eq!(
        reason(&mut node, spend(&[coin], &[sat(COIN - 1000)], 200)).as_str(),
        "non-BIP68-final"
    );
    let mut version_9 = spend(&[coin], &[sat(COIN - 1000)], u32::MAX);
    version_9.version = transaction::Version(9);
    assert_eq!(reason(&mut node, version_9).as_str(), "version");
    assert!(node
        .submit(spend(&[coin], &[sat(COIN - 1000)], 5), NOW, 0)
        .is_ok());
}

#[test]
fn replacements_follow_cores_cluster_mempool_rules() {
    let (mut node, coinbase) = funded();
    let (coin, other) = (coinbase(&node, 1), coinbase(&node, 2));
    let parent = spend(&[coin], &[sat(COIN - 1000)], u32::MAX);
    let parent_id = node.submit(parent, NOW, 0).unwrap();
    let child = spend(&[OutPoint::new(parent_id, 0)], &[sat(COIN - 2000)], u32::MAX);
    let child_id = node.submit(child, NOW, 0).unwrap();

    // No BIP125 signal needed (sequence MAX), but it must pay for what it evicts:
    // 2000 sat (parent + child) plus 0.1 sat/vB of its own size.
    let short = node
        .submit(spend(&[coin], &[sat(COIN - 1500)], u32::MAX), NOW, 0)
        .unwrap_err();
    assert!(
        short
            .message()
            .contains("less fees than conflicting txs; 0.000015 < 0.00002"),
        "{}",
        short.message()
    );
    // Paying more in total but at a lower feerate (a much larger transaction): the
    // mempool would be worse to mine, so the feerate diagram check refuses it.
    let mut outputs = vec![sat(COIN / 100); 59];
    outputs.push(sat(COIN - 59 * (COIN / 100) - 3000));
    let big = spend(&[coin], &outputs, u32::MAX);
    let refused = node.submit(big, NOW, 0).unwrap_err();
    assert_eq!(
        refused.message(),
        "replacement-failed, insufficient feerate: does not improve feerate diagram"
    );
    // Spending an unconfirmed output the replaced transaction did not spend: allowed
    // since Core's cluster mempool (v31 dropped BIP125's rule 2); parent and child go.
    let unrelated = node
        .submit(spend(&[other], &[sat(COIN - 1000)], u32::MAX), NOW, 0)
        .unwrap();
    let adds = spend(
        &[coin, OutPoint::new(unrelated, 0)],
        &[sat(2 * COIN - 10_000)],
        u32::MAX,
    );
    let adds = node.submit(adds, NOW, 0).unwrap();
    assert!(node.mempool().contains(&adds) && node.mempool().contains(&unrelated));
    assert!(!node.mempool().contains(&parent_id) && !node.mempool().contains(&child_id));
}

#[test]
fn test_accept_judges_a_package_in_order_without_changing_anything() {
    let (node, coinbase) = funded();
    let parent = spend(&[coinbase(&node, 1)], &[sat(COIN - 1000)], u32::MAX);
    let child = spend(
        &[OutPoint::new(parent.compute_txid(), 0)],
        &[sat(COIN - 2000)],
        u32::MAX,
    );
    let verdicts = node.test_accept(vec![parent, child.clone()], NOW, 0);
    assert!(verdicts.iter().all(|v| v.result.is_ok()), "{verdicts:?}");
    assert!(node.mempool().is_empty());
    let alone = node.test_accept(vec![child], NOW, 0);
    assert_eq!(alone[0].result.as_ref().unwrap_err().code, -25);
}

#[test]
fn a_block_takes_the_best_paying_transactions_first() {
    let (mut node, coinbase) = funded();
    let cheap = node
        .submit(
            spend(&[coinbase(&node, 1)], &[sat(COIN - 1000)], u32::MAX),
            NOW,
            0,
        )
        .unwrap();
    let rich = node
        .submit(
            spend(&[coinbase(&node, 2)], &[sat(COIN - 9000)], u32::MAX),
            NOW,
            0,
        )
        .unwrap();
    let hash = node.mine(1, &anyone_p2wsh(), NOW, true).unwrap()[0];
    let (block, _, _) = node.chain().block(&hash).unwrap();
    let order: Vec<_> = block.txdata.iter().skip(1).map(|t| t.compute_txid()).collect();
    assert_eq!(order, vec![rich, cheap]);
    assert_eq!(block.txdata[0].output[0].value, sat(COIN + 10_000));
}

#[test]
fn a_reopened_store_replays_the_chain_and_drops_what_no_longer_fits() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::open(dir.path(), NOW).unwrap();
    node.mine(101, &anyone_p2wsh(), NOW, true).unwrap();
    let hash = node.chain().hash_at(1).unwrap();
    let coin = OutPoint::new(node.chain().block(&hash).unwrap().0.txdata[0].compute_txid(), 0);
    let txid = node
        .submit(spend(&[coin], &[sat(COIN - 1000)], u32::MAX), NOW, 0)
        .unwrap();
    let tip = node.chain().tip_hash();
    drop(node);
    let mut node = Node::open(dir.path(), NOW).unwrap();
    assert_eq!(node.chain().tip_hash(), tip);
    assert!(node.mempool().contains(&txid));
    // Take block 1 away: its coinbase never existed, so the stored spend is dropped too.
    node.invalidate(&hash, NOW).unwrap();
    assert!(node.mempool().is_empty());
    drop(node);
    let node = Node::open(dir.path(), NOW).unwrap();
    assert_eq!(node.chain().height(), 0);
    assert!(node.mempool().is_empty());
}
