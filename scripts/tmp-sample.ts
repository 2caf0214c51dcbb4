import { open } from 'lmdb';
const env = open({ path: process.argv[2], maxDbs: 12, readOnly: true });
const cur = env.openDB<Buffer, any>('cur', { encoding: 'binary', compression: { threshold: 400 } });
const ver = env.openDB<Buffer, any>('ver', { encoding: 'binary', compression: { threshold: 400 } });
for (const t of ['Patient', 'Immunization']) {
  for (const { key, value } of cur.getRange({ start: [t, ''], limit: 1 })) {
    console.log(key, value.length, value.toString('utf8', 29));
    const v = ver.get([t, key[1], 1])!;
    console.log(v.length, v.toString('utf8', 24));
  }
}
const idx = env.openDB<Buffer, any>('idx', { encoding: 'binary' });
let i = 0;
for (const k of idx.getKeys({ start: [5] })) { if (i++ % 20000 === 0) console.log(JSON.stringify(k)); }
