/** The MySQL/MariaDB binlog decoder: what the rest of the driver imports. */
export { BinlogDecoder, type BinlogDecoderOptions } from './decoder.js';
export { readBinlogFile, BINLOG_MAGIC } from './read-file.js';
export { BinlogFormatError } from './errors.js';
export * from './types.js';
