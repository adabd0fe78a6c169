/**
 * Source of the chunk codec worker, run with `new Worker(source, { eval: true })`. It is a string rather
 * than a module file because the same code must start under tsx, vitest and the compiled dist alike, and
 * a .ts worker file only loads under tsx. It mirrors codec.ts (compress-then-seal, unseal-then-decompress
 * and id check); test/unit/repository/codec-pool.test.ts checks that the two read each other's objects.
 * Constants come in through workerData so the format is defined once, in format.ts.
 */
export const CODEC_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const zstd = require(workerData.zstdPath);
const F = workerData.format;
const encKey = Buffer.from(workerData.encKey);
const idKey = Buffer.from(workerData.idKey);

// Transferable output: a Uint8Array that owns its whole ArrayBuffer (pooled Buffers must not be transferred).
function own(parts, total) {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

// One compression context per level, kept: a new one per 1 MiB chunk (zstd.compress) cost about
// a tenth more time, the context's tables being set up again each time.
const compressors = new Map();
function compressor(level) {
  let c = compressors.get(level);
  if (!c) {
    c = new zstd.Compressor();
    c.setParameters(workerData.zstdParameters[level] ?? { compressionLevel: level });
    compressors.set(level, c);
  }
  return c;
}

function encode(id, data, level) {
  let compression = F.none;
  let body = data;
  if (data.length > 0) {
    const packed = compressor(level).compress(data);
    if (packed.length < data.length) { compression = F.zstd; body = packed; }
  }
  const header = Buffer.alloc(F.headerLen);
  header.set(F.magic, 0);
  header[F.magicLen] = F.version;
  header[F.magicLen + 1] = F.typeChunk;
  header[F.magicLen + 2] = compression;
  const nonce = crypto.randomBytes(F.nonceLen);
  header.set(nonce, F.magicLen + 4);
  const cipher = crypto.createCipheriv('aes-256-gcm', encKey, nonce);
  cipher.setAAD(Buffer.concat([header, Buffer.from(id, 'latin1')]));
  const ct = cipher.update(body);
  const fin = cipher.final();
  const tag = cipher.getAuthTag();
  return own([header, ct, fin, tag], header.length + ct.length + fin.length + tag.length);
}

function decode(id, object, checkId) {
  if (object.length < F.headerLen + F.tagLen) return { error: 'object is ' + object.length + ' bytes, shorter than an empty envelope' };
  for (let i = 0; i < F.magicLen; i++) if (object[i] !== F.magic[i]) return { error: 'object does not start with the CRMB magic' };
  if (object[F.magicLen] !== F.version) return { error: 'unknown envelope version ' + object[F.magicLen] };
  if (object[F.magicLen + 1] !== F.typeChunk) return { error: 'object type byte is ' + object[F.magicLen + 1] + ', expected ' + F.typeChunk + ' (chunk)' };
  const header = object.subarray(0, F.headerLen);
  const decipher = crypto.createDecipheriv('aes-256-gcm', encKey, header.subarray(F.magicLen + 4));
  decipher.setAAD(Buffer.concat([header, Buffer.from(id, 'latin1')]));
  decipher.setAuthTag(object.subarray(object.length - F.tagLen));
  let body;
  try {
    body = Buffer.concat([decipher.update(object.subarray(F.headerLen, object.length - F.tagLen)), decipher.final()]);
  } catch {
    return { error: 'authentication failed (the object was modified, truncated or stored under another id)' };
  }
  const compression = object[F.magicLen + 2];
  let plain;
  if (compression === F.none) plain = body;
  else if (compression === F.zstd) {
    try { plain = zstd.decompress(body); } catch (e) { return { error: 'zstd frame is invalid (' + e.message + ')' }; }
  } else return { error: 'unknown compression byte ' + compression };
  const actual = checkId ? crypto.createHmac('sha256', idKey).update(plain).digest('hex') : id;
  if (actual !== id) return { error: 'plaintext hashes to ' + actual.slice(0, 16) + '…, not to its id' };
  return { data: own([plain], plain.length) };
}

parentPort.on('message', (m) => {
  try {
    if (m.op === 'encode') {
      const object = encode(m.id, m.data, m.level);
      parentPort.postMessage({ job: m.job, data: object }, [object.buffer]);
    } else {
      const r = decode(m.id, m.data, m.op === 'decode-check');
      if (r.error) parentPort.postMessage({ job: m.job, error: r.error });
      else parentPort.postMessage({ job: m.job, data: r.data }, [r.data.buffer]);
    }
  } catch (e) {
    parentPort.postMessage({ job: m.job, fatal: String(e && e.message || e) });
  }
});
`;
