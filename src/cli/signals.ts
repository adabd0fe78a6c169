/**
 * SIGINT/SIGTERM become an AbortSignal: long commands flush, release locks and exit 130
 * (stream exits 0 by contract). A second signal exits at once.
 */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let count = 0;
  const onSignal = (name: NodeJS.Signals): void => {
    count++;
    if (count > 1) process.exit(130);
    process.stderr.write(`\ncrm-backup: ${name} received; finishing cleanly (send again to exit at once).\n`);
    controller.abort(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
