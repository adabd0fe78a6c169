import { MalformedEvent } from './errors.js';

/** Length-encoded integer markers (MySQL `net_field_length`). */
const LENENC_NULL = 0xfb;
const LENENC_2 = 0xfc;
const LENENC_3 = 0xfd;
const LENENC_8 = 0xfe;

/**
 * Sequential little-endian reader over one event's bytes (or a part of them) that fails with a
 * MalformedEvent naming the event and the field, instead of reading past the end. `end` is the
 * exclusive end of what may be read (the checksum is outside it).
 */
export class ByteReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    readonly what: string,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new MalformedEvent(
        `${this.what} is too short: ${field} needs ${n} bytes at byte ${this.pos}, and ${Math.max(0, this.end - this.pos)} are left.`,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(field: string): number {
    this.need(3, field);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  /** 1 to 6 bytes, little-endian, as a number. */
  uintLE(n: number, field: string): number {
    this.need(n, field);
    const v = n === 0 ? 0 : this.buf.readUIntLE(this.pos, n);
    this.pos += n;
    return v;
  }
  /** 1 to 8 bytes, little-endian, unsigned, as a bigint. */
  bigUintLE(n: number, field: string): bigint {
    this.need(n, field);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.buf[this.pos + i]!);
    this.pos += n;
    return v;
  }
  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** 1 to 6 bytes, big-endian, unsigned. */
  uintBE(n: number, field: string): number {
    this.need(n, field);
    const v = n === 0 ? 0 : this.buf.readUIntBE(this.pos, n);
    this.pos += n;
    return v;
  }

  /** MySQL length-encoded integer (`net_field_length_ll`); NULL (0xfb) is refused. */
  lenenc(field: string): bigint {
    const first = this.u8(field);
    if (first < LENENC_NULL) return BigInt(first);
    if (first === LENENC_2) return BigInt(this.u16(field));
    if (first === LENENC_3) return BigInt(this.u24(field));
    if (first === LENENC_8) return this.u64(field);
    throw new MalformedEvent(`${this.what} has an invalid length-encoded integer (0x${first.toString(16)}) in ${field}.`);
  }
  /** A length-encoded integer that must fit what is left of the event (a count or a length). */
  lenencSize(field: string): number {
    const v = this.lenenc(field);
    if (v > BigInt(this.remaining)) {
      throw new MalformedEvent(`${this.what} says ${field} is ${v}, more than the ${this.remaining} bytes left.`);
    }
    return Number(v);
  }

  /** MySQL serialization library varint: trailing one bits of the first byte say how many follow. */
  varlenUint(field: string): bigint {
    const first = this.u8(field);
    let n = 1;
    while (n < 9 && (first >> (n - 1)) & 1) n++;
    if (n === 1) return BigInt(first >> 1);
    this.need(n - 1, field);
    let rest = 0n;
    for (let i = n - 2; i >= 0; i--) rest = (rest << 8n) | BigInt(this.buf[this.pos + i]!);
    this.pos += n - 1;
    if (n === 9) return rest;
    return (BigInt(first >> n) | (rest << BigInt(8 - n))) & 0xffff_ffff_ffff_ffffn;
  }
  /** Zig-zag signed varint of the serialization library. */
  varlenInt(field: string): bigint {
    const u = this.varlenUint(field);
    return u & 1n ? -(u >> 1n) - 1n : u >> 1n;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** A copy: values handed to callers must not pin or alias the event buffer. */
  copy(n: number, field: string): Buffer {
    return Buffer.from(this.bytes(n, field));
  }
  rest(): Buffer {
    return this.bytes(this.remaining, 'the rest');
  }
  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }
  utf8(n: number, field: string): string {
    return this.bytes(n, field).toString('utf8');
  }
  /** Up to the next zero byte (which is consumed), or to the end when there is none. */
  zeroTerminated(): string {
    const zero = this.buf.indexOf(0, this.pos);
    const stop = zero < 0 || zero >= this.end ? this.end : zero;
    const s = this.buf.toString('utf8', this.pos, stop);
    this.pos = stop < this.end ? stop + 1 : stop;
    return s;
  }
}
