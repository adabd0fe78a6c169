/** `crm-backup log` refuses option mixes that mean nothing, in one sentence, before any repository is opened. */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';

describe('crm-backup log options', () => {
  it('exits 2 with one sentence for --show mixed with listing filters, --limit without --show, and --from after --to', async () => {
    const [show, limit, order] = await Promise.all([
      runCli(['log', '--show', '745@0/16B3748', '--from', '2026-01-01T00:00:00Z']),
      runCli(['log', '--limit', '5']),
      runCli(['log', '--from', '2026-01-02T00:00:00Z', '--to', '2026-01-01T00:00:00Z']),
    ]);
    expect([show.code, limit.code, order.code]).toEqual([2, 2, 2]);
    expect(show.stderr.trim()).toBe(
      'crm-backup: log --show REF takes only --name, --limit and --json; list first, then show one transaction.',
    );
    expect(limit.stderr.trim()).toBe('crm-backup: --limit goes with --show REF.');
    expect(order.stderr.trim()).toBe(
      'crm-backup: --from 2026-01-02T00:00:00Z is after --to 2026-01-01T00:00:00Z.',
    );
  });
});
