import { readFileSync } from 'node:fs';
import { DictionaryCompressor as A } from '../src/store/embedded/lz4-dictionary.js';
const mod = process.env.CAND ? await import(process.env.CAND) : undefined;
const data = JSON.parse(readFileSync('/tmp/sw/mb/records.json', 'utf8'));
const dict = Buffer.from(data.dictionary, 'base64');
const recs: Buffer[] = [...data.Patient, ...data.Immunization].map((b: string) => Buffer.from(b, 'base64'));
for (const [name, C] of [['current', A], ...(mod ? [['candidate', mod.DictionaryCompressor]] : [])] as const) {
  const c = new (C as typeof A)(dict);
  let bytes = 0, outBytes = 0;
  for (let r = 0; r < 200; r++) for (const x of recs) c.compress(x);
  const t = process.hrtime.bigint();
  const R = 300;
  for (let r = 0; r < R; r++) for (const x of recs) { outBytes += c.compress(x).length; bytes += x.length; }
  const ns = Number(process.hrtime.bigint() - t);
  console.log(`${name}: ${(ns / (R * recs.length) / 1000).toFixed(2)} µs per record, ${(bytes / (ns / 1e9) / 1e6).toFixed(0)} MB/s, ratio ${(outBytes / bytes).toFixed(3)}`);
}
