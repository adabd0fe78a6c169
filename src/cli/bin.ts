#!/usr/bin/env node
/** The `crm-backup` executable: runs the CLI and exits with its code. */
import { EXIT } from '../util/errors.js';
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  () => process.exit(EXIT.failure),
);
