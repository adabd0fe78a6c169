/**
 * Which ends of a replication session are retried: connection failures (with or without a code)
 * are, decoding faults and errors about the stream's content are not (they would repeat forever).
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { retryable } from '../../../drivers/postgres/internal/change-log-session.js';
import { connect, connectionError, parsePgUrl } from '../../../drivers/postgres/internal/connection.js';
import { ReceiveTimeoutError, ReplicationDecodeError } from '../../../drivers/postgres/internal/replication.js';
import { SourceError } from '../../../src/util/errors.js';

const target = parsePgUrl('postgres://app@db.example:5432/crm');
const coded = (code: string, message = 'failed'): Error => Object.assign(new Error(message), { code });

describe('retryable', () => {
  it.each<[string, unknown]>([
    ['a session that ended without an error', undefined],
    ['a socket closed without a code', new Error('Connection terminated unexpectedly')],
    ['the replication connection closed', new Error('the replication connection closed')],
    ['ECONNRESET', coded('ECONNRESET', 'read ECONNRESET')],
    ['ETIMEDOUT', coded('ETIMEDOUT')],
    ['a receive timeout', new ReceiveTimeoutError(60_000)],
    ['admin shutdown 57P01', coded('57P01')],
    ['connection failure 08006', coded('08006')],
    ['too many connections 53300', coded('53300')],
    ['slot still active 55006', coded('55006')],
    [
      'a connect that lost its socket',
      connectionError(new Error('Connection terminated unexpectedly'), target),
    ],
    ['a connect that reset', connectionError(coded('ECONNRESET'), target)],
    ['a connect that timed out', connectionError(coded('ETIMEDOUT'), target)],
    ['a connect that was refused', connectionError(coded('ECONNREFUSED'), target)],
    ['a connect that got no answer', connectionError(new Error('timeout expired'), target)],
  ])('retries %s', (_, err) => {
    expect(retryable(err)).toBe(true);
  });

  it.each<[string, unknown]>([
    [
      'a relation that was not described',
      new ReplicationDecodeError(new Error('relation 16384 not described')),
    ],
    ['a string too long to decode', new ReplicationDecodeError(new RangeError('Invalid string length'))],
    ['an unexpected frame', new ReplicationDecodeError(new Error('Unexpected replication frame'))],
    ['our own finding about the stream', new SourceError('pgoutput sent Commit without Begin.')],
    ['a missing slot 42704', coded('42704')],
    ['a dropped publication 42P01', coded('42P01')],
    ['rejected credentials', connectionError(coded('28P01'), target)],
  ])('does not retry %s', (_, err) => {
    expect(retryable(err)).toBe(false);
  });

  it('names a connect that got no answer, in one sentence', () => {
    // what pg rejects with when connectionTimeoutMillis (30 s) passes
    expect(connectionError(new Error('timeout expired'), target).message).toBe(
      'Cannot connect to PostgreSQL at postgres://app@db.example:5432/crm: no answer within 30 s (is the host reachable and the port open to this machine?).',
    );
  });

  it('gives up on a server that accepts the connection and never answers', async () => {
    const silent = net.createServer(() => {}); // takes the socket, sends nothing, ever
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const t = parsePgUrl(`postgres://app@127.0.0.1:${port}/crm`);
      const quick = { ...t, config: { ...t.config, connectionTimeoutMillis: 300 } };
      await expect(connect(quick)).rejects.toThrow(
        `Cannot connect to PostgreSQL at postgres://app@127.0.0.1:${port}/crm: no answer within 0.3 s (is the host reachable and the port open to this machine?).`,
      );
    } finally {
      silent.close();
    }
  });
});
