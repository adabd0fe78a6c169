import { IntegrityError } from '../../../src/util/errors.js';
import type { BinlogFormatErrorDetails } from './types.js';

/**
 * A binlog event that cannot be decoded: cut short, a checksum that does not match, a length
 * that points past the event, a value the format does not allow. An IntegrityError: the bytes
 * read are not what the server wrote (or not a binlog at all), and nothing after them can be
 * trusted without a decision by a person.
 */
export class BinlogFormatError extends IntegrityError {
  readonly details: BinlogFormatErrorDetails;
  constructor(details: BinlogFormatErrorDetails, options?: { cause?: unknown }) {
    super(`${details.file} at offset ${details.offset}: ${details.reason}`, {
      what: `binlog ${details.file}`,
      where: `offset ${details.offset}`,
      cause: options?.cause,
    });
    this.details = details;
  }
}

/**
 * Thrown inside the decoder where the file and offset are not known; `BinlogDecoder.decode`
 * turns it into a BinlogFormatError. `reason` is one sentence ending with a full stop.
 */
export class MalformedEvent extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'MalformedEvent';
  }
}
