// SPDX-License-Identifier: GPL-2.0
// node_json: the json function in Node.js (FunctionBench json_dumps_loads),
// with the protocol of runner.py: init, $BENCH_WARMUP warm-up requests,
// SIGSTOP when SPICE_CAPTURE is set, then one request number per line on
// stdin, "RESULT\tREADY_NS REQ_NS MINFLT MAJFLT" per line on stdout.
'use strict';
const crypto = require('crypto');
const fs = require('fs');

function rng(seed) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf',
  'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november'];
function init() {
  const r = rng(42);
  const pick = () => words[Math.floor(r() * words.length)];
  const doc = { version: 1, items: [] };
  for (let i = 0; i < 1500; i++) {
    doc.items.push({ id: i, name: [pick(), pick(), pick()].join(' '),
      price: Math.round(r() * 100000) / 100, tags: [pick(), pick(), pick(), pick()],
      stock: { warehouse: Math.floor(r() * 100), store: Math.floor(r() * 50) },
      active: r() < 0.8 });
  }
  return doc;
}
function handler(doc, n) {
  const s = JSON.stringify({ request: n, doc });
  const back = JSON.parse(s);
  let total = back.request;
  for (const it of back.doc.items) total += it.stock.store;
  return crypto.createHash('sha256').update(s).digest('hex').slice(0, 16) + ' ' + s.length + ' ' + total;
}
const now = () => process.hrtime.bigint();   // CLOCK_MONOTONIC
const doc = init();
const nwarm = parseInt(process.env.BENCH_WARMUP || '0', 10);
for (let i = 0; i < nwarm; i++) handler(doc, 1000000 + i);
if (process.env.SPICE_CAPTURE) process.kill(process.pid, 'SIGSTOP');
let ready = now();
let ru = process.resourceUsage();
// Synchronous reads of fd 0: one request at a time, no event loop needed.
const buf = Buffer.alloc(65536);
let pending = '';
for (;;) {
  let nl = pending.indexOf('\n');
  if (nl < 0) {
    let n;
    try { n = fs.readSync(0, buf, 0, buf.length, null); } catch (e) {
      if (e.code === 'EAGAIN') continue; throw e;
    }
    if (n === 0) break;
    pending += buf.toString('utf8', 0, n);
    continue;
  }
  const line = pending.slice(0, nl);
  pending = pending.slice(nl + 1);
  const t = now();
  const res = handler(doc, parseInt(line, 10));
  const r2 = process.resourceUsage();
  fs.writeSync(1, `${res}\t${ready} ${t} ${r2.minorPageFault - ru.minorPageFault} ${r2.majorPageFault - ru.majorPageFault}\n`);
  ready = 0;
  ru = r2;
}
process.exit(0);
