//! simnet through the same Bitcoin Core client the coordinator uses: mining, spending with
//! real signatures, refusals with Core's codes, and reorgs.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Address, Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Witness,
};
use sluice_coordinator::chain::{CoreRpcClient, RpcAuth};
use sluice_coordinator::simnet::{spawn, SimnetOptions};

struct Key {
    secret: SecretKey,
    public: CompressedPublicKey,
}

fn key(n: u8) -> Key {
    let secret = SecretKey::from_slice(&[n; 32]).unwrap();
    let public = CompressedPublicKey(secret.public_key(&Secp256k1::new()));
    Key { secret, public }
}

fn address(k: &Key) -> Address {
    Address::p2wpkh(&k.public, Network::Regtest)
}

/// A P2WPKH spend of `prev` (value `value`) by `k`, paying `pay` to `to`.
fn spend(k: &Key, prev: OutPoint, value: Amount, to: &ScriptBuf, pay: Amount) -> Transaction {
    let mut tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: pay,
            script_pubkey: to.clone(),
        }],
    };
    let script = ScriptBuf::new_p2wpkh(&k.public.wpubkey_hash());
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(0, &script, value, EcdsaSighashType::All)
        .unwrap();
    let sig = Secp256k1::new().sign_ecdsa(&Message::from_digest_slice(sighash.as_ref()).unwrap(), &k.secret);
    let sig = bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: EcdsaSighashType::All,
    };
    tx.input[0].witness = Witness::p2wpkh(&sig, &k.public.0);
    tx
}

async fn funded() -> (
    sluice_coordinator::simnet::SimnetHandle,
    CoreRpcClient,
    Key,
    OutPoint,
    Amount,
) {
    let handle = spawn(SimnetOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: None,
    })
    .await
    .unwrap();
    let rpc = CoreRpcClient::new(&handle.url, RpcAuth::None);
    let alice = key(1);
    let hashes = rpc.generate_to_address(101, &address(&alice)).await.unwrap();
    let first = rpc.get_block(&hashes[0]).await.unwrap();
    let coinbase = first.txdata[0].clone();
    (
        handle,
        rpc,
        alice,
        OutPoint {
            txid: coinbase.compute_txid(),
            vout: 0,
        },
        coinbase.output[0].value,
    )
}

#[tokio::test]
async fn mine_spend_confirm() {
    let (handle, rpc, alice, coin, value) = funded().await;
    assert_eq!(rpc.get_block_count().await.unwrap(), 101);
    assert_eq!(value, Amount::from_btc(50.0).unwrap());
    let bob = address(&key(2)).script_pubkey();
    let tx = spend(&alice, coin, value, &bob, Amount::from_btc(49.999).unwrap());
    let accept = rpc.test_mempool_accept(std::slice::from_ref(&tx)).await.unwrap();
    assert!(accept[0].allowed, "{accept:?}");
    let txid = rpc.send_raw_transaction(&tx).await.unwrap();
    assert_eq!(rpc.get_raw_mempool().await.unwrap(), vec![txid]);
    assert_eq!(
        rpc.get_raw_transaction_verbose(&txid)
            .await
            .unwrap()
            .confirmations,
        0
    );
    rpc.generate_to_address(2, &address(&alice)).await.unwrap();
    let mined = rpc.get_raw_transaction_verbose(&txid).await.unwrap();
    assert_eq!(mined.confirmations, 2);
    assert!(rpc.get_raw_mempool().await.unwrap().is_empty());
    // Sending it again: Core's -27.
    assert!(rpc
        .send_raw_transaction(&tx)
        .await
        .unwrap_err()
        .is_already_in_chain());
    handle.shutdown();
}

#[tokio::test]
async fn refusals_carry_cores_codes() {
    let (handle, rpc, alice, coin, value) = funded().await;
    let bob = address(&key(2)).script_pubkey();
    let carol = address(&key(3)).script_pubkey();
    rpc.send_raw_transaction(&spend(&alice, coin, value, &bob, Amount::from_btc(49.0).unwrap()))
        .await
        .unwrap();
    // Double spend against the mempool.
    let double = rpc
        .send_raw_transaction(&spend(
            &alice,
            coin,
            value,
            &carol,
            Amount::from_btc(48.0).unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(double.to_string().contains("txn-mempool-conflict"), "{double}");
    // A bad signature (someone else's key) fails Core's interpreter.
    let block2 = rpc
        .get_block(&rpc.get_block_hash(2).await.unwrap())
        .await
        .unwrap();
    let coin2 = OutPoint {
        txid: block2.txdata[0].compute_txid(),
        vout: 0,
    };
    let forged = spend(&key(9), coin2, value, &bob, Amount::from_btc(49.0).unwrap());
    let bad = rpc.send_raw_transaction(&forged).await.unwrap_err();
    assert!(
        bad.to_string().contains("mandatory-script-verify-flag-failed"),
        "{bad}"
    );
    // An immature coinbase (block 101 has 1 confirmation).
    let young = rpc
        .get_block(&rpc.get_block_hash(101).await.unwrap())
        .await
        .unwrap();
    let young_coin = OutPoint {
        txid: young.txdata[0].compute_txid(),
        vout: 0,
    };
    let premature = rpc
        .send_raw_transaction(&spend(
            &alice,
            young_coin,
            value,
            &bob,
            Amount::from_btc(49.0).unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(
        premature.to_string().contains("premature-spend-of-coinbase"),
        "{premature}"
    );
    // Spending more than the input.
    let greedy = rpc
        .send_raw_transaction(&spend(
            &alice,
            coin2,
            value,
            &bob,
            Amount::from_btc(51.0).unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(greedy.to_string().contains("bad-txns-in-belowout"), "{greedy}");
    // The fixture error shapes.
    assert!(rpc.get_block_hash(5_000).await.unwrap_err().is_out_of_range());
    assert!(rpc
        .get_raw_transaction_verbose(&"11".repeat(32).parse().unwrap())
        .await
        .unwrap_err()
        .is_not_found());
    assert!(rpc
        .call::<serde_json::Value>("nosuchmethod", serde_json::json!([]))
        .await
        .unwrap_err()
        .is_method_not_found());
    handle.shutdown();
}

#[tokio::test]
async fn a_reorg_returns_the_transaction_to_the_mempool() {
    let (handle, rpc, alice, coin, value) = funded().await;
    let bob = address(&key(2)).script_pubkey();
    let txid = rpc
        .send_raw_transaction(&spend(&alice, coin, value, &bob, Amount::from_btc(49.9).unwrap()))
        .await
        .unwrap();
    let mined = rpc.generate_to_address(1, &address(&alice)).await.unwrap();
    assert_eq!(
        rpc.get_raw_transaction_verbose(&txid)
            .await
            .unwrap()
            .confirmations,
        1
    );
    rpc.invalidate_block(&mined[0]).await.unwrap();
    assert_eq!(rpc.get_block_count().await.unwrap(), 101);
    assert_eq!(
        rpc.get_raw_mempool().await.unwrap(),
        vec![txid],
        "back in the mempool"
    );
    assert_eq!(
        rpc.get_raw_transaction_verbose(&txid)
            .await
            .unwrap()
            .confirmations,
        0
    );
    assert!(rpc.get_block_header(&mined[0]).await.unwrap_err().is_not_found());
    // The simnet-only shortcut: a 2-block reorg of empty blocks.
    rpc.generate_to_address(1, &address(&alice)).await.unwrap();
    let before = rpc.get_best_block_hash().await.unwrap();
    let _: serde_json::Value = rpc.call("simnet_reorg", serde_json::json!([2])).await.unwrap();
    assert_ne!(rpc.get_best_block_hash().await.unwrap(), before);
    assert_eq!(rpc.get_block_count().await.unwrap(), 103);
    assert_eq!(
        rpc.get_raw_mempool().await.unwrap(),
        vec![txid],
        "reorged out again, back in the mempool"
    );
    handle.shutdown();
}
