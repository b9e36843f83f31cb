//! Building and solving blocks as a Bitcoin Core 30 regtest node does for
//! `generatetoaddress`: a coinbase with the BIP34 height (`CScript() << height << OP_0`),
//! lock-time height − 1, the subsidy plus fees, and the BIP141 witness commitment; then
//! nonces are tried until the header meets regtest's target.

use std::sync::Arc;

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::all::OP_RETURN;
use bitcoin::script::PushBytesBuf;
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Witness,
};

use super::rules::{subsidy, REGTEST_BITS};

/// What the block builds on.
#[derive(Debug, Clone, Copy)]
pub struct Parent {
    pub hash: BlockHash,
    pub height: u32,
    pub median_time_past: u32,
}

/// A solved block at `parent.height + 1` holding `txs` (already in a valid order, with
/// total fees `fees`), paying the coinbase to `payout`, timestamped `now` or just after
/// the parent's median time past if the clock is behind.
pub fn build_block(
    parent: Parent,
    txs: &[Arc<Transaction>],
    fees: Amount,
    payout: &ScriptBuf,
    now: u32,
) -> Block {
    let height = parent.height + 1;
    let script_sig = Builder::new()
        .push_int(i64::from(height))
        .push_opcode(bitcoin::opcodes::OP_0)
        .into_script();
    let mut coinbase = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::from_consensus(height - 1),
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::ENABLE_LOCKTIME_NO_RBF,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![TxOut {
            value: subsidy(height) + fees,
            script_pubkey: payout.clone(),
        }],
    };
    let mut txdata = Vec::with_capacity(txs.len() + 1);
    txdata.push(coinbase.clone());
    txdata.extend(txs.iter().map(|t| Transaction::clone(t)));
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: parent.hash,
            merkle_root: TxMerkleNode::all_zeros(),
            time: now.max(parent.median_time_past + 1),
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata,
    };
    // BIP141: commit to the witness merkle root (coinbase counted as zero) and the
    // reserved value in the coinbase witness.
    if let Some(witness_root) = block.witness_root() {
        let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
        let mut data = PushBytesBuf::from([0xaa, 0x21, 0xa9, 0xed]);
        // 36 bytes always fit a push.
        let _ = data.extend_from_slice(commitment.as_byte_array());
        coinbase.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: Builder::new()
                .push_opcode(OP_RETURN)
                .push_slice(data)
                .into_script(),
        });
        block.txdata[0] = coinbase;
    }
    block.header.merkle_root = block
        .compute_merkle_root()
        .unwrap_or_else(TxMerkleNode::all_zeros);
    solve(&mut block.header);
    block
}

/// Tries nonces (and later timestamps) until the header's hash meets its target. At
/// regtest difficulty about every second nonce does.
fn solve(header: &mut Header) {
    let target = header.target();
    while header.validate_pow(target).is_err() {
        match header.nonce.checked_add(1) {
            Some(nonce) => header.nonce = nonce,
            None => {
                header.nonce = 0;
                header.time += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{check_block, check_block_in_context};
    use bitcoin::blockdata::constants::genesis_block;
    use bitcoin::Network;

    #[test]
    fn a_built_block_passes_every_block_check() {
        let genesis = genesis_block(Network::Regtest);
        let parent = Parent {
            hash: genesis.block_hash(),
            height: 0,
            median_time_past: genesis.header.time,
        };
        let block = build_block(
            parent,
            &[],
            Amount::ZERO,
            &ScriptBuf::new_op_return([]),
            1_800_000_000,
        );
        assert_eq!(check_block(&block), Ok(()));
        assert_eq!(check_block_in_context(&block, 1, genesis.header.time), Ok(()));
        // As Core 30: height 1 is `OP_1 OP_0`, lock-time 0, a witness commitment output.
        let coinbase = &block.txdata[0];
        assert_eq!(coinbase.input[0].script_sig.as_bytes(), &[0x51, 0x00]);
        assert_eq!(coinbase.input[0].sequence.0, 0xffff_fffe);
        assert_eq!(
            coinbase.output[1].script_pubkey.as_bytes()[..6],
            [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]
        );
        assert_eq!(coinbase.output[0].value, Amount::from_btc(50.0).unwrap());
        // Wrong height in context is refused.
        assert_eq!(
            check_block_in_context(&block, 2, genesis.header.time),
            Err("bad-cb-height".to_owned())
        );
    }
}
