import type { Command } from 'commander';
import { createContext, type CommandContext, type GlobalOptions } from './context.js';
import { interruptSignal } from './signals.js';

/**
 * Wraps a command's action: merges global options, builds the context (logger, signal) and
 * stores the exit code the action returns. Errors propagate to main(), which maps them.
 */
export function action<O extends object>(
  run: (opts: O & GlobalOptions, ctx: CommandContext, args: string[]) => Promise<number | void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args.at(-1) as Command;
    const opts = cmd.optsWithGlobals<O & GlobalOptions>();
    const positional = args.slice(0, -2).filter((a): a is string => typeof a === 'string');
    const interrupt = interruptSignal();
    try {
      const code = await run(opts, createContext(opts, interrupt.signal), positional);
      if (typeof code === 'number') process.exitCode = code;
    } finally {
      interrupt.dispose();
    }
  };
}
