import type { Command } from 'commander';
import { registerCheck } from './cmd-check.js';
import { registerCopy } from './cmd-copy.js';
import { registerDoctor } from './cmd-doctor.js';
import { registerDrill } from './cmd-drill.js';
import { registerForget } from './cmd-forget.js';
import { registerInit } from './cmd-init.js';
import { registerKey } from './cmd-key.js';
import { registerList } from './cmd-list.js';
import { registerLog } from './cmd-log.js';
import { registerMigrate } from './cmd-migrate.js';
import { registerRestore } from './cmd-restore.js';
import { registerSnapshot } from './cmd-snapshot.js';
import { registerStream } from './cmd-stream.js';
import { registerVerify } from './cmd-verify.js';

/** The CLI contract of DESIGN.md: extend, do not rename. */
export function registerCommands(program: Command): void {
  registerInit(program);
  registerSnapshot(program);
  registerStream(program);
  registerList(program);
  registerLog(program);
  registerRestore(program);
  registerVerify(program);
  registerCheck(program);
  registerDrill(program);
  registerForget(program);
  registerCopy(program);
  registerDoctor(program);
  registerMigrate(program);
  registerKey(program);
}
