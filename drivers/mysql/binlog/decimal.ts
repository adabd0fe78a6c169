import { MalformedEvent } from './errors.js';

/** Bytes used by a group of 0..9 decimal digits in MySQL's packed DECIMAL (decimal2bin). */
const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;
const DIGITS_PER_WORD = 9;
const WORD_BYTES = 4;

export function decimalBinarySize(precision: number, scale: number): number {
  const intg = precision - scale;
  return (
    Math.floor(intg / DIGITS_PER_WORD) * WORD_BYTES +
    DIG2BYTES[intg % DIGITS_PER_WORD]! +
    Math.floor(scale / DIGITS_PER_WORD) * WORD_BYTES +
    DIG2BYTES[scale % DIGITS_PER_WORD]!
  );
}

/**
 * MySQL's packed DECIMAL(precision, scale) as text: "-123.4500", exactly `scale` fractional
 * digits, no leading zeros in the integer part ("0.50"). The sign is the inverted top bit of the
 * first byte; a negative number has every byte inverted; digits come in big-endian groups of
 * nine (four bytes) with the leading and trailing partial groups packed in fewer bytes.
 */
export function decodeDecimal(raw: Buffer, precision: number, scale: number): string {
  if (precision < 1 || precision > 65 || scale > 30 || scale > precision) {
    throw new MalformedEvent(`DECIMAL(${precision},${scale}) is not a precision and scale MySQL allows.`);
  }
  const size = decimalBinarySize(precision, scale);
  if (raw.length < size) throw new MalformedEvent(`DECIMAL(${precision},${scale}) value needs ${size} bytes, found ${raw.length}.`);
  const b = Buffer.from(raw.subarray(0, size));
  const negative = (b[0]! & 0x80) === 0;
  b[0] = b[0]! ^ 0x80;
  if (negative) for (let i = 0; i < size; i++) b[i] = ~b[i]! & 0xff;
  const intg = precision - scale;
  const intg0 = Math.floor(intg / DIGITS_PER_WORD);
  const intg0x = intg % DIGITS_PER_WORD;
  const frac0 = Math.floor(scale / DIGITS_PER_WORD);
  const frac0x = scale % DIGITS_PER_WORD;
  let pos = 0;
  // one group of `digits` decimal digits, zero-padded; a group that holds more is not a DECIMAL
  const group = (digits: number): string => {
    const n = digits === DIGITS_PER_WORD ? WORD_BYTES : DIG2BYTES[digits]!;
    const v = n === 0 ? 0 : b.readUIntBE(pos, n);
    pos += n;
    const text = String(v).padStart(digits, '0');
    if (text.length > digits) {
      throw new MalformedEvent(`DECIMAL(${precision},${scale}) value has a digit group (${v}) wider than ${digits} digits.`);
    }
    return text;
  };
  let intPart = intg0x > 0 ? group(intg0x) : '';
  for (let i = 0; i < intg0; i++) intPart += group(DIGITS_PER_WORD);
  let fracPart = '';
  for (let i = 0; i < frac0; i++) fracPart += group(DIGITS_PER_WORD);
  if (frac0x > 0) fracPart += group(frac0x);
  intPart = intPart.replace(/^0+/, '') || '0';
  return `${negative ? '-' : ''}${intPart}${scale > 0 ? `.${fracPart}` : ''}`;
}
