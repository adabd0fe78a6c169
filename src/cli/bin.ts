#!/usr/bin/env node
/** The `crm-backup` executable: runs the CLI and exits with its code. */
import { EXIT } from '../util/errors.js';
import { main } from './main.js';

let settled = false;
// If the event loop ever drained while main() still awaited something nothing can resolve, node
// would exit 0 in silence; a command that did not finish must never pass for one that succeeded.
process.on('beforeExit', () => {
  if (settled) return;
  process.stderr.write(
    'crm-backup: internal error: stopped with work still pending; nothing was completed.\n',
  );
  process.exit(EXIT.failure);
});

main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    process.exit(code);
  },
  () => {
    settled = true;
    process.exit(EXIT.failure);
  },
);
