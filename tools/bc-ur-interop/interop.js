#!/usr/bin/env node
// An independent BC-UR implementation (@ngraveio/bc-ur, pinned in package-lock.json) for
// Sluice's interoperability test (shared/tests/ur_interop.rs). Reads one JSON request on
// stdin, writes one JSON answer on stdout:
//
//   {"op": "encode", "psbt_hex": "...", "max_fragment_len": 200, "count": 40}
//     -> {"parts": ["ur:crypto-psbt/1-9/...", ...]}   (pure parts first, then mixed)
//   {"op": "decode", "cases": [["ur:...", ...], ...]}
//     -> {"results": [{"complete": true, "psbt_hex": "..."} | {"complete": false}
//                     | {"complete": false, "error": "..."}, ...]}
//
// Each decode case is fed, in the order given, to a fresh URDecoder; a part it rejects
// is noted and skipped, as a scanner would.
'use strict';
const { UR, UREncoder, URDecoder } = require('@ngraveio/bc-ur');

function encode(req) {
  const psbt = Buffer.from(req.psbt_hex, 'hex');
  const bytes = UR.fromBuffer(psbt); // CBOR byte string around the PSBT
  const ur = new UR(bytes.cbor, 'crypto-psbt');
  const encoder = new UREncoder(ur, req.max_fragment_len, 0);
  const parts = [];
  for (let i = 0; i < req.count; i++) parts.push(encoder.nextPart());
  return { parts };
}

function decodeCase(parts) {
  const decoder = new URDecoder(undefined, 'crypto-psbt');
  const errors = [];
  for (const part of parts) {
    try {
      decoder.receivePart(part.toLowerCase());
    } catch (e) {
      errors.push(String(e && e.message ? e.message : e));
    }
    if (decoder.isComplete()) break;
  }
  if (!decoder.isComplete()) return errors.length ? { complete: false, error: errors[0] } : { complete: false };
  if (!decoder.isSuccess()) return { complete: false, error: String(decoder.resultError()) };
  const psbt = decoder.resultUR().decodeCBOR();
  return { complete: true, psbt_hex: Buffer.from(psbt).toString('hex') };
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  let answer;
  if (req.op === 'encode') answer = encode(req);
  else if (req.op === 'decode') answer = { results: req.cases.map(decodeCase) };
  else throw new Error(`unknown op ${req.op}`);
  process.stdout.write(JSON.stringify(answer));
});
