import { expect, it } from 'vitest';
import { toDbTime } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect } from '../helpers/testServer.js';

const v1 = '/api/latest/fleet';
const minute = 60 * 1000;

describeEachDialect('GET /hosts?order_key=seen_time: the list’s own last-seen time', (server) => {
  it('orders by seen_time as the list shows it (agent request, else last report, else creation)', async () => {
    const srv = server();
    const token = await setupAdmin(srv);
    const ago = (m: number) => toDbTime(new Date(Date.now() - m * minute));
    // Agent hosts are seen when their agent last asked; MDM-only hosts when they last reported
    // details, or were created; the sort must follow that, not the bare seen_time column.
    const hosts = [
      { name: 'agent-10', created: 100, detail: 90, seen: 10 },
      { name: 'mdm-only-reported-5', created: 100, detail: 5, seen: null },
      { name: 'agent-50', created: 100, detail: 2, seen: 50 },
      { name: 'mdm-only-created-30', created: 30, detail: null, seen: null },
    ];
    for (const [i, h] of hosts.entries()) {
      await srv.app.services.database.db
        .insertInto('hosts')
        .values({
          uuid: `SEEN-${i}`,
          hardware_serial: `SEEN${i}`,
          platform: 'darwin',
          hostname: h.name,
          computer_name: h.name,
          created_at: ago(h.created),
          updated_at: ago(h.created),
          ...(h.detail !== null ? { detail_updated_at: ago(h.detail) } : {}),
          seen_time: h.seen === null ? null : ago(h.seen),
        })
        .execute();
    }
    const list = async (dir: string) => {
      const res = await api(srv, 'GET', `${v1}/hosts?order_key=seen_time&order_direction=${dir}`, { token });
      expect(res.status).toBe(200);
      return res.body.hosts as { hostname: string; seen_time: string }[];
    };
    const desc = await list('desc');
    expect(desc.map((h) => h.hostname)).toEqual([
      'mdm-only-reported-5',
      'agent-10',
      'mdm-only-created-30',
      'agent-50',
    ]);
    // The order agrees with the seen_time each host shows.
    const shown = desc.map((h) => Date.parse(h.seen_time));
    expect([...shown].sort((a, b) => b - a)).toEqual(shown);
    expect((await list('asc')).map((h) => h.hostname)).toEqual(desc.map((h) => h.hostname).reverse());
    // Paging goes on from the same order.
    const page1 = await api(
      srv,
      'GET',
      `${v1}/hosts?order_key=seen_time&order_direction=desc&per_page=2&page=1`,
      {
        token,
      },
    );
    expect(page1.body.hosts.map((h: { hostname: string }) => h.hostname)).toEqual([
      'mdm-only-created-30',
      'agent-50',
    ]);
  });
});
