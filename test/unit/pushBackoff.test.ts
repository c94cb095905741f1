import { describe, expect, it } from 'vitest';
import { PushBackoff } from '../../src/mdm/push/backoff.js';

const backoff = new PushBackoff({ batchSize: 2, backoffBaseMs: 60_000, backoffMaxMs: 3_600_000 });
const at = new Date('2026-12-06T10:00:00.000Z');

describe('PushBackoff', () => {
  it('doubles the delay per unanswered push up to the ceiling', () => {
    expect([0, 1, 2, 5, 6, 7, 60].map((f) => backoff.delayMs(f))).toEqual([
      60_000, 120_000, 240_000, 1_920_000, 3_600_000, 3_600_000, 3_600_000,
    ]);
  });

  it('groups outcomes that share an update; a dead target gets no next push', () => {
    const groups = backoff.group(
      [
        { id: 'a', error: null, dead: false, failures: 0 },
        { id: 'b', error: null, dead: false, failures: 0 },
        { id: 'c', error: 'Unregistered', dead: true, failures: 1 },
        { id: 'd', error: null, dead: false, failures: 1 },
      ],
      at,
    );
    expect(groups.map((g) => ({ ...g, lastPushAt: g.lastPushAt.slice(0, 19) }))).toEqual([
      {
        ids: ['a', 'b'],
        lastPushAt: '2026-12-06 10:00:00',
        lastPushError: null,
        pushFailures: 0,
        nextPushAt: expect.stringContaining('2026-12-06 10:01:00'),
        dead: false,
      },
      {
        ids: ['c'],
        lastPushAt: '2026-12-06 10:00:00',
        lastPushError: 'Unregistered',
        pushFailures: 1,
        nextPushAt: null,
        dead: true,
      },
      {
        ids: ['d'],
        lastPushAt: '2026-12-06 10:00:00',
        lastPushError: null,
        pushFailures: 1,
        nextPushAt: expect.stringContaining('2026-12-06 10:02:00'),
        dead: false,
      },
    ]);
  });

  it('walks due enrollments batch by batch, counting one more unanswered push each', async () => {
    const due = [
      { id: 1, push_failures: 0 },
      { id: 2, push_failures: 3 },
      { id: 3, push_failures: 1 },
    ];
    const calls: { ids: number[]; failures: number[] }[] = [];
    const result = await backoff.repushDue(
      0,
      async (afterId, limit) => due.filter((d) => d.id > afterId).slice(0, limit),
      async (ids, failuresAfter) => {
        calls.push({ ids, failures: ids.map(failuresAfter) });
        return ids.map((id) => ({ ok: id !== 2 }));
      },
    );
    expect(calls).toEqual([
      { ids: [1, 2], failures: [1, 4] },
      { ids: [3], failures: [2] },
    ]);
    expect(result).toEqual({ pushed: 2, failed: 1 });
  });
});
