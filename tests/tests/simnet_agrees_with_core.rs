//! simnet against Bitcoin Core: the same sequence of transactions, built the same way
//! from each chain's own coins, is replayed through simnet and through a real
//! `bitcoind -regtest`, and every answer is compared: accepted or not, the RPC error
//! code, the reject reason and its details (hashes masked, since each chain has its own
//! coinbases), `testmempoolaccept`'s verdict, and `estimatesmartfee`'s reply.
//!
//! Core is the reference: a difference is fixed in simnet (docs/testing.md lists them).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::all::OP_PUSHNUM_1;
use bitcoin::script::Builder;
use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut, Txid};
use serde_json::json;
use sluice_coordinator::chain::{CoreRpcClient, RpcAuth};
use sluice_e2e::bitcoind::start_bitcoind;
use sluice_e2e::replay::{ask, coinbase, Answer, Replay, Spender, Transcript};
use sluice_simnet::{spawn, SimnetOptions};

/// Every case, in order, on one chain. Ends with the transcript.
async fn replay(chain: &CoreRpcClient) -> Transcript {
    let spender = Spender::fixed();
    let mut r = Replay {
        chain,
        transcript: Vec::new(),
    };
    r.record("fresh chain, empty mempool", "estimatesmartfee", json!([6]))
        .await;
    // 110 blocks: the coinbases of heights 1..=11 can be spent in block 111.
    let hashes = chain.generate_to_address(110, &spender.address()).await.unwrap();
    let [cb1, cb2, cb3] = [
        coinbase(chain, &hashes[0]).await,
        coinbase(chain, &hashes[1]).await,
        coinbase(chain, &hashes[2]).await,
    ];
    let immature = coinbase(chain, &hashes[109]).await;
    r.record("mined, empty mempool", "estimatesmartfee", json!([6]))
        .await;
    r.record("conf_target out of range", "estimatesmartfee", json!([0]))
        .await;

    r.record("malformed hex", "sendrawtransaction", json!(["00zz"]))
        .await;
    r.record(
        "hex that is no transaction",
        "sendrawtransaction",
        json!(["0200"]),
    )
    .await;
    r.record("malformed hex", "testmempoolaccept", json!([["00zz"]]))
        .await;

    let original = spender.pay_self(cb1, Amount::from_sat(10_000));
    r.offer("valid spend", &original).await;
    r.record(
        "the same transaction again (in the mempool)",
        "sendrawtransaction",
        json!([serialize_hex(&original)]),
    )
    .await;
    let lower = spender.pay_self(cb1, Amount::from_sat(5_000));
    r.offer("double spend paying less fee", &lower).await;
    // Higher fee rate, but the extra 5 sat do not pay the replacement's own relay.
    let thin = spender.pay_self(cb1, Amount::from_sat(10_005));
    r.offer("replacement without enough additional fee", &thin).await;
    let replacement = spender.pay_self(cb1, Amount::from_sat(20_000));
    r.offer("replacement paying enough", &replacement).await;
    // More fee in total, at a lower feerate (ten more outputs): the mempool would be
    // worse to mine.
    let mut outputs: Vec<TxOut> = (0..10)
        .map(|_| TxOut {
            value: Amount::from_sat(1_000_000),
            script_pubkey: spender.script(),
        })
        .collect();
    outputs.push(TxOut {
        value: cb1.1 - Amount::from_sat(10_000_000 + 30_000),
        script_pubkey: spender.script(),
    });
    r.offer(
        "replacement paying more at a lower feerate",
        &spender.spend(&[cb1], outputs),
    )
    .await;
    r.record(
        "the replaced transaction",
        "getmempoolentry",
        json!([original.compute_txid()]),
    )
    .await;

    let missing = (OutPoint::new(Txid::from_byte_array([7; 32]), 0), Amount::ONE_BTC);
    r.offer(
        "spend of a missing input",
        &spender.pay_self(missing, Amount::from_sat(10_000)),
    )
    .await;

    let pay = |value: Amount, script_pubkey: ScriptBuf| TxOut { value, script_pubkey };
    let rest = |coin: (OutPoint, Amount), paid: Amount| coin.1 - paid - Amount::from_sat(10_000);
    r.offer(
        "dust output",
        &spender.spend(
            &[cb2],
            vec![
                pay(Amount::from_sat(100), spender.script()),
                pay(rest(cb2, Amount::from_sat(100)), spender.script()),
            ],
        ),
    )
    .await;
    let bare_true = Builder::new().push_opcode(OP_PUSHNUM_1).into_script();
    r.offer(
        "non-standard output script",
        &spender.spend(
            &[cb2],
            vec![
                pay(Amount::from_sat(10_000), bare_true),
                pay(rest(cb2, Amount::from_sat(10_000)), spender.script()),
            ],
        ),
    )
    .await;
    let op_return = |data: &[u8]| {
        let mut script = ScriptBuf::new();
        script.push_opcode(bitcoin::opcodes::all::OP_RETURN);
        for chunk in data.chunks(520) {
            script.push_slice(<&bitcoin::script::PushBytes>::try_from(chunk).unwrap());
        }
        script
    };
    r.offer(
        "OP_RETURN carrying value",
        &spender.spend(
            &[cb2],
            vec![
                pay(Amount::from_sat(1_000), op_return(b"burn")),
                pay(rest(cb2, Amount::from_sat(1_000)), spender.script()),
            ],
        ),
    )
    .await;
    r.offer(
        "OP_RETURN of 100 001 bytes",
        &spender.spend(
            &[cb2],
            vec![
                pay(Amount::ZERO, op_return(&[0x55; 100_001])),
                pay(rest(cb2, Amount::ZERO), spender.script()),
            ],
        ),
    )
    .await;
    r.offer(
        "below the minimum relay fee",
        &spender.pay_self(cb2, Amount::ZERO),
    )
    .await;
    let expensive = spender.pay_self(cb2, Amount::from_sat(50_000_000));
    r.offer("fee above maxfeerate", &expensive).await;
    r.record(
        "fee above the default, maxfeerate 0 (no cap)",
        "sendrawtransaction",
        json!([serialize_hex(&expensive), 0]),
    )
    .await;
    r.offer(
        "coinbase spend before maturity",
        &spender.pay_self(immature, Amount::from_sat(10_000)),
    )
    .await;
    // A chain of two: the child of an unconfirmed parent.
    let parent = spender.pay_self(cb3, Amount::from_sat(10_000));
    let child = spender.pay_self(
        (OutPoint::new(parent.compute_txid(), 0), parent.output[0].value),
        Amount::from_sat(10_000),
    );
    r.record(
        "parent and child in one package",
        "testmempoolaccept",
        json!([[serialize_hex(&parent), serialize_hex(&child)]]),
    )
    .await;
    r.offer("parent", &parent).await;
    r.offer("child", &child).await;
    r.record_but_time(
        "a child in the mempool",
        "getmempoolentry",
        json!([child.compute_txid()]),
    )
    .await;
    r.record_but_time(
        "a parent in the mempool",
        "getmempoolentry",
        json!([parent.compute_txid()]),
    )
    .await;
    r.record_shape("parent and child", "getrawmempool", json!([true]))
        .await;
    r.record_shape("parent and child", "getmempoolinfo", json!([]))
        .await;
    r.record_shape(
        "an output spent in the mempool",
        "gettxout",
        json!([cb3.0.txid, 0]),
    )
    .await;
    r.record_shape("a mempool output", "gettxout", json!([child.compute_txid(), 0]))
        .await;
    r.record(
        "a mempool transaction",
        "getrawtransaction",
        json!([parent.compute_txid()]),
    )
    .await;
    r.record_shape(
        "a mempool transaction",
        "getrawtransaction",
        json!([parent.compute_txid(), 1]),
    )
    .await;
    r.record(
        "an unknown transaction",
        "getrawtransaction",
        json!([missing.0.txid]),
    )
    .await;

    // Replacing a parent evicts its child too; a replacement may not spend what it replaces.
    let cb5 = coinbase(chain, &hashes[4]).await;
    let parent2 = spender.pay_self(cb5, Amount::from_sat(10_000));
    let child2 = spender.pay_self(
        (OutPoint::new(parent2.compute_txid(), 0), parent2.output[0].value),
        Amount::from_sat(10_000),
    );
    r.offer("second parent", &parent2).await;
    r.offer("second child", &child2).await;
    let spends_its_conflict = spender.spend(
        &[
            cb5,
            (OutPoint::new(parent2.compute_txid(), 0), parent2.output[0].value),
        ],
        vec![TxOut {
            value: cb5.1 + parent2.output[0].value - Amount::from_sat(50_000),
            script_pubkey: spender.script(),
        }],
    );
    r.offer(
        "replacement spending the transaction it replaces",
        &spends_its_conflict,
    )
    .await;
    r.offer(
        "replacement paying for parent and child",
        &spender.pay_self(cb5, Amount::from_sat(30_000)),
    )
    .await;
    r.record(
        "the evicted child",
        "getmempoolentry",
        json!([child2.compute_txid()]),
    )
    .await;

    // A chain of unconfirmed spends grows one cluster: Core allows 64 transactions.
    let mut coin = coinbase(chain, &hashes[3]).await;
    for link in 1..=65 {
        let tx = spender.pay_self(coin, Amount::from_sat(1_000));
        let answer = ask(chain, "sendrawtransaction", json!([serialize_hex(&tx)])).await;
        if link == 65 || matches!(answer, Answer::Error { .. }) {
            r.transcript.push((
                format!("link {link} of an unconfirmed chain: sendrawtransaction"),
                answer,
            ));
        }
        coin = (OutPoint::new(tx.compute_txid(), 0), tx.output[0].value);
    }

    chain.generate_to_address(1, &spender.address()).await.unwrap();
    r.offer("already in the chain, resent", &replacement).await;
    r.offer("the replaced original, its input now spent in a block", &original)
        .await;
    r.record("after a block", "estimatesmartfee", json!([6])).await;
    let tip = chain.get_best_block_hash().await.unwrap();
    r.record(
        "a confirmed transaction",
        "getrawtransaction",
        json!([parent.compute_txid()]),
    )
    .await;
    r.record(
        "a confirmed transaction, its block named",
        "getrawtransaction",
        json!([parent.compute_txid(), 0, tip]),
    )
    .await;
    r.record_shape(
        "a confirmed transaction, its block named",
        "getrawtransaction",
        json!([parent.compute_txid(), 1, tip]),
    )
    .await;
    r.record(
        "a transaction not in the block named",
        "getrawtransaction",
        json!([missing.0.txid, 0, tip]),
    )
    .await;
    r.record_shape("a confirmed output", "gettxout", json!([child.compute_txid(), 0]))
        .await;
    r.record_shape("the tip", "getblock", json!([tip, 1])).await;
    r.record_shape("the tip", "getblock", json!([tip, 2])).await;
    r.record_shape("the tip", "getblockheader", json!([tip])).await;
    r.record_shape("after a block", "getblockchaininfo", json!([]))
        .await;
    r.record_shape("after a block", "getnetworkinfo", json!([])).await;
    r.record_shape("after a block", "getchaintips", json!([])).await;
    r.record("above the tip", "getblockhash", json!([100_000])).await;
    r.record("an unknown block", "getblock", json!([missing.0.txid]))
        .await;
    r.transcript
}

/// The same replay on simnet (answering `estimatesmartfee` as a fresh node does) and on
/// Core; every answer must agree.
#[test]
fn simnet_answers_every_transaction_as_bitcoin_core_does() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let simnet = spawn(SimnetOptions {
            fee_estimate: None,
            ..SimnetOptions::local()
        })
        .await
        .unwrap();
        let on_simnet = replay(&CoreRpcClient::new(&simnet.url, RpcAuth::None)).await;
        // simnet answers as a node with -txindex (getrawtransaction finds confirmed
        // transactions); the coordinator needs no index, see docs/testing.md.
        let core = start_bitcoind(&["-txindex=1"]).await;
        let on_core = replay(&core.client()).await;
        for (what, answer) in &on_core {
            eprintln!("{what}\n  {answer:?}");
        }
        assert_eq!(on_simnet.len(), on_core.len());
        let differences: Vec<String> = on_simnet
            .iter()
            .zip(&on_core)
            .filter(|(s, c)| s != c)
            .map(|((what, s), (_, c))| format!("{what}\n  simnet: {s:?}\n  Core:   {c:?}"))
            .collect();
        assert!(
            differences.is_empty(),
            "simnet and Bitcoin Core disagree on {} of {} calls:\n{}",
            differences.len(),
            on_core.len(),
            differences.join("\n")
        );
    });
}
