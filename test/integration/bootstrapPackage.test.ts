import { createHash, randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { bootstrapChunkBytes, parseRange } from '../../src/apple/bootstrap/service.js';
import { checkPackageSignature, PackageCheckError } from '../../src/apple/bootstrap/xar.js';
import { dbNow } from '../../src/db/dialect.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { tokenForRole } from '../helpers/appleSeed.js';
import { fetchPkg, makePkg, uploadPkg } from '../helpers/bootstrapPkg.js';
import { describeEachDialect } from '../helpers/testServer.js';

const v1 = '/api/v1/fleet';

it('checks packages as Fleet does: xar magic, known checksum, signed TOC', () => {
  checkPackageSignature(makePkg());
  checkPackageSignature(makePkg({ xSignature: true }));
  checkPackageSignature(makePkg({ checksum: 3 }));
  const fails = (b: Buffer) => {
    try {
      checkPackageSignature(b);
      return 'passed';
    } catch (err) {
      expect(err).toBeInstanceOf(PackageCheckError);
      return (err as Error).message;
    }
  };
  expect(fails(makePkg({ signed: false }))).toBe('file is not signed');
  expect(fails(makePkg({ magic: 0x504b0304 }))).toBe('invalid file type');
  expect(fails(makePkg({ checksum: 2 }))).toBe('invalid package');
  expect(fails(Buffer.from('xar!'))).toBe('invalid package');
  expect(fails(Buffer.alloc(0))).toBe('invalid package');
  const truncated = makePkg();
  expect(fails(truncated.subarray(0, 40))).toBe('invalid package');
  const badToc = Buffer.from(makePkg());
  badToc.fill(0x41, 28, 40);
  expect(fails(badToc)).toBe('invalid package');
});

it('parses byte ranges (RFC 9110): single ranges, suffixes, open ends, unsatisfiable', () => {
  expect(parseRange(undefined, 100)).toEqual({ kind: 'full' });
  expect(parseRange('bytes=0-9', 100)).toEqual({ kind: 'partial', range: { start: 0, end: 9 } });
  expect(parseRange('bytes=90-', 100)).toEqual({ kind: 'partial', range: { start: 90, end: 99 } });
  expect(parseRange('bytes=-10', 100)).toEqual({ kind: 'partial', range: { start: 90, end: 99 } });
  expect(parseRange('bytes=-1000', 100)).toEqual({ kind: 'partial', range: { start: 0, end: 99 } });
  expect(parseRange('bytes=50-1000', 100)).toEqual({ kind: 'partial', range: { start: 50, end: 99 } });
  expect(parseRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
  expect(parseRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
  expect(parseRange('bytes=0-1,5-6', 100)).toEqual({ kind: 'full' });
  expect(parseRange('items=0-1', 100)).toEqual({ kind: 'full' });
  expect(parseRange('bytes=9-3', 100)).toEqual({ kind: 'full' });
});

describeEachDialect('bootstrap packages', (server) => {
  let admin: string;
  let teamId: number;

  beforeAll(async () => {
    admin = await setupAdmin(server());
    teamId = await createTeam(server(), admin, 'Bootstrap team');
  });

  const db = () => server().app.services.database.db;
  const chunkCount = async () =>
    Number(
      (
        await db()
          .selectFrom('mdm_apple_bootstrap_package_chunks')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const packageCount = async () =>
    Number(
      (
        await db()
          .selectFrom('mdm_apple_bootstrap_packages')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const lastActivity = async () =>
    (
      await api(server(), 'GET', `${v1}/activities?order_key=id&order_direction=desc&per_page=1`, {
        token: admin,
      })
    ).body.activities[0];

  it('uploads, describes, streams (HEAD, ranges across chunks, 416) and deletes a package', async () => {
    const team = await createTeam(server(), admin, `Team ${randomUUID().slice(0, 6)}`);
    // 2.5 chunks, so ranges cross chunk boundaries.
    const pkg = makePkg({ heapBytes: Math.floor(2.5 * bootstrapChunkBytes) });
    const up = await uploadPkg(
      server(),
      admin,
      { name: 'Setup Tools.pkg', bytes: pkg },
      { team_id: String(team) },
    );
    expect(up.status).toBe(200);
    expect(up.body).toEqual({});
    expect(await lastActivity()).toMatchObject({
      type: 'added_bootstrap_package',
      details: { bootstrap_package_name: 'Setup Tools.pkg', team_id: team, team_name: expect.any(String) },
    });

    const meta = await api(server(), 'GET', `${v1}/bootstrap/${team}/metadata`, { token: admin });
    expect(meta.status).toBe(200);
    expect(Object.keys(meta.body).sort()).toEqual(['created_at', 'name', 'sha256', 'team_id', 'token']);
    expect(meta.body).toMatchObject({
      name: 'Setup Tools.pkg',
      team_id: team,
      sha256: createHash('sha256').update(pkg).digest('base64'),
      token: expect.stringMatching(/^[0-9a-f-]{36}$/),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    // The older path answers the same.
    const old = await api(server(), 'GET', `${v1}/mdm/apple/bootstrap/${team}/metadata`, { token: admin });
    expect(old.body).toEqual(meta.body);

    const url = `${server().url}${v1}/bootstrap?token=${meta.body.token}`;
    const full = await fetchPkg(url);
    expect(full.status).toBe(200);
    expect(full.body.equals(pkg)).toBe(true);
    expect(full.headers.get('content-type')).toBe('application/octet-stream');
    expect(full.headers.get('content-length')).toBe(String(pkg.length));
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(full.headers.get('content-disposition')).toContain('Setup Tools.pkg');
    const etag = full.headers.get('etag')!;
    expect(etag).toBe(`"${createHash('sha256').update(pkg).digest('hex')}"`);

    const head = await fetchPkg(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(pkg.length));
    expect(head.body.length).toBe(0);

    // One range crossing the first chunk boundary.
    const from = bootstrapChunkBytes - 10;
    const part = await fetchPkg(url, { headers: { range: `bytes=${from}-${from + 29}` } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes ${from}-${from + 29}/${pkg.length}`);
    expect(part.headers.get('content-length')).toBe('30');
    expect(part.body.equals(pkg.subarray(from, from + 30))).toBe(true);
    const tail = await fetchPkg(url, { headers: { range: 'bytes=-100' } });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(pkg.subarray(pkg.length - 100))).toBe(true);
    const rest = await fetchPkg(url, { headers: { range: `bytes=${2 * bootstrapChunkBytes + 5}-` } });
    expect(rest.status).toBe(206);
    expect(rest.body.equals(pkg.subarray(2 * bootstrapChunkBytes + 5))).toBe(true);
    const headPart = await fetchPkg(url, { method: 'HEAD', headers: { range: 'bytes=0-0' } });
    expect(headPart.status).toBe(206);
    expect(headPart.headers.get('content-length')).toBe('1');
    const past = await fetchPkg(url, { headers: { range: `bytes=${pkg.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${pkg.length}`);
    // Several ranges, or a stale If-Range: the whole file.
    expect((await fetchPkg(url, { headers: { range: 'bytes=0-1,4-5' } })).status).toBe(200);
    const stale = await fetchPkg(url, { headers: { range: 'bytes=0-1', 'if-range': '"other"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(pkg.length);
    expect((await fetchPkg(url, { headers: { range: 'bytes=0-1', 'if-range': etag } })).status).toBe(206);
    // Fleet's other download paths, no Bearer token needed.
    for (const p of ['/api/latest/fleet/mdm/bootstrap', '/api/v1/fleet/mdm/apple/bootstrap']) {
      const r = await fetchPkg(`${server().url}${p}?token=${meta.body.token}`);
      expect(r.status).toBe(200);
      expect(r.body.equals(pkg)).toBe(true);
    }
    expect((await fetchPkg(`${server().url}${v1}/bootstrap?token=${randomUUID()}`)).status).toBe(404);
    expect((await fetchPkg(`${server().url}${v1}/bootstrap`)).status).toBe(400);

    // A second package for the team is refused and changes nothing.
    const chunks = await chunkCount();
    const dup = await uploadPkg(server(), admin, { bytes: makePkg() }, { team_id: String(team) });
    expect(dup.status).toBe(409);
    expect(dup.body.message).toBe('Resource Already Exists');
    const dupLate = await uploadPkg(
      server(),
      admin,
      { bytes: makePkg() },
      { team_id: String(team), teamFirst: false },
    );
    expect(dupLate.status).toBe(409);
    expect(await chunkCount()).toBe(chunks);

    const del = await api(server(), 'DELETE', `${v1}/bootstrap/${team}`, { token: admin });
    expect(del.status).toBe(200);
    expect(await lastActivity()).toMatchObject({
      type: 'deleted_bootstrap_package',
      details: { bootstrap_package_name: 'Setup Tools.pkg', team_id: team },
    });
    expect(await chunkCount()).toBe(chunks - 3);
    const gone = await api(server(), 'GET', `${v1}/bootstrap/${team}/metadata`, { token: admin });
    expect(gone.status).toBe(404);
    expect(gone.body.errors).toEqual([
      { name: 'team_id', reason: 'bootstrap package for this team does not exist' },
    ]);
    expect((await fetchPkg(url)).status).toBe(404);
    expect((await api(server(), 'DELETE', `${v1}/bootstrap/${team}`, { token: admin })).status).toBe(404);
  });

  it('takes No team (team_id 0 or absent) and the older upload path', async () => {
    const up = await uploadPkg(
      server(),
      admin,
      { name: 'noteam.pkg', bytes: makePkg() },
      { path: `${v1}/mdm/apple/bootstrap` },
    );
    expect(up.status).toBe(200);
    const meta = await api(server(), 'GET', `${v1}/bootstrap/0/metadata`, { token: admin });
    expect(meta.status).toBe(200);
    expect(meta.body.team_id).toBe(0);
    expect((await lastActivity()).details).toMatchObject({ team_id: null, team_name: null });
    expect((await uploadPkg(server(), admin, { bytes: makePkg() }, { team_id: '0' })).status).toBe(409);
    expect((await api(server(), 'DELETE', `${v1}/mdm/apple/bootstrap/0`, { token: admin })).status).toBe(200);
  });

  it('refuses bad uploads with a clear 4xx and stores nothing', async () => {
    const before = { chunks: await chunkCount(), packages: await packageCount() };
    const cases: [() => Promise<{ status: number; body: any }>, number, string][] = [
      [
        () => uploadPkg(server(), admin, { bytes: makePkg({ signed: false }) }, { team_id: String(teamId) }),
        400,
        'file is not signed',
      ],
      [
        () =>
          uploadPkg(server(), admin, {
            bytes: Buffer.from('PK\x03\x04 not a pkg at all, a zip file'.repeat(4)),
          }),
        400,
        'invalid file type',
      ],
      [() => uploadPkg(server(), admin, { bytes: Buffer.from('tiny') }), 400, 'invalid package'],
      [
        () => uploadPkg(server(), admin, undefined, { team_id: String(teamId) }),
        400,
        'package multipart field is required',
      ],
      [
        () => uploadPkg(server(), admin, { bytes: makePkg() }, { team_id: 'abc' }),
        400,
        'failed to decode team_id',
      ],
      [
        () => uploadPkg(server(), admin, { name: 'a:b.pkg', bytes: makePkg() }),
        400,
        'package name contains invalid characters',
      ],
      [() => uploadPkg(server(), admin, { bytes: makePkg() }, { team_id: '999999' }), 404, 'Team'],
      [
        () => uploadPkg(server(), admin, { bytes: makePkg() }, { team_id: '999999', teamFirst: false }),
        404,
        'Team',
      ],
    ];
    for (const [call, status, reason] of cases) {
      const res = await call();
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(JSON.stringify(res.body.errors)).toContain(reason);
    }
    // Not multipart at all, and a multipart body cut short.
    const json = await api(server(), 'POST', `${v1}/bootstrap`, { token: admin, body: { package: 'x' } });
    expect(json.status).toBe(400);
    const broken = await api(server(), 'POST', `${v1}/bootstrap`, {
      token: admin,
      rawBody:
        '--XYZ\r\nContent-Disposition: form-data; name="package"; filename="a.pkg"\r\n\r\nxar!\x00\x1c',
      headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
    });
    expect(broken.status).toBe(400);
    // No credentials, or a role that may not write.
    expect((await uploadPkg(server(), undefined, { bytes: makePkg() })).status).toBe(401);
    const observer = await tokenForRole(server().app.services, 'observer');
    expect((await uploadPkg(server(), observer, { bytes: makePkg() })).status).toBe(403);
    expect({ chunks: await chunkCount(), packages: await packageCount() }).toEqual(before);
  });

  it('answers metadata for_update to write-only users, summary with counts, unknown teams with 404', async () => {
    const team = await createTeam(server(), admin, `Gitops ${randomUUID().slice(0, 6)}`);
    expect((await uploadPkg(server(), admin, { bytes: makePkg() }, { team_id: String(team) })).status).toBe(
      200,
    );
    const gitops = await tokenForRole(server().app.services, 'gitops');
    expect((await api(server(), 'GET', `${v1}/bootstrap/${team}/metadata`, { token: gitops })).status).toBe(
      403,
    );
    const forUpdate = await api(server(), 'GET', `${v1}/bootstrap/${team}/metadata?for_update=true`, {
      token: gitops,
    });
    expect(forUpdate.status).toBe(200);
    expect((await api(server(), 'GET', `${v1}/bootstrap/abc/metadata`, { token: admin })).status).toBe(400);

    // ADE Macs of the team, one per status, plus a manual Mac and an ADE iPhone (not counted).
    const services = server().app.services;
    const mk = async (platform: string, fromDep: boolean, status?: string) => {
      const uuid = randomUUID().toUpperCase();
      const id = await services.hostStore.create({
        uuid,
        platform,
        hardware_serial: `S${uuid.slice(0, 8)}`,
        team_id: team,
      });
      await services.hostStore.upsertHostMdm(id, {
        enrolled: true,
        server_url: 'https://mdm.example.com/mdm/apple/mdm',
        installed_from_dep: fromDep,
        is_personal_enrollment: false,
        mdm_name: 'Fleet',
      });
      if (status) {
        await db()
          .insertInto('host_mdm_apple_bootstrap_packages')
          .values({
            host_uuid: uuid,
            command_uuid: randomUUID(),
            status,
            detail: status === 'failed' ? 'MCInstallationErrorDomain (4001): boom' : null,
            created_at: dbNow(),
            updated_at: dbNow(),
          })
          .execute();
      }
      return id;
    };
    const installed = await mk('darwin', true, 'installed');
    const failed = await mk('darwin', true, 'failed');
    const pending = await mk('darwin', true, 'pending');
    const none = await mk('darwin', true);
    await mk('darwin', false, 'installed');
    await mk('ios', true);
    const sum = await api(server(), 'GET', `${v1}/bootstrap/summary?team_id=${team}`, { token: admin });
    expect(sum.status).toBe(200);
    expect(sum.body).toEqual({ installed: 1, pending: 2, failed: 1 });
    expect(
      (await api(server(), 'GET', `${v1}/mdm/apple/bootstrap/summary?team_id=${team}`, { token: admin }))
        .body,
    ).toEqual(sum.body);
    expect(
      (await api(server(), 'GET', `${v1}/bootstrap/summary?team_id=999999`, { token: admin })).status,
    ).toBe(404);

    // The hosts filter and the host detail agree with the summary.
    const ids = async (status: string) =>
      (
        await api(server(), 'GET', `${v1}/hosts?team_id=${team}&bootstrap_package=${status}`, {
          token: admin,
        })
      ).body.hosts
        .map((h: { id: number }) => h.id)
        .sort();
    expect(await ids('installed')).toEqual([installed]);
    expect(await ids('failed')).toEqual([failed]);
    expect(await ids('pending')).toEqual([pending, none].sort());
    const detail = await api(server(), 'GET', `${v1}/hosts/${failed}`, { token: admin });
    expect(detail.body.host.mdm.macos_setup).toEqual({
      bootstrap_package_status: 'failed',
      detail: 'MCInstallationErrorDomain (4001): boom',
      bootstrap_package_name: 'bootstrap.pkg',
    });
    const ok = await api(server(), 'GET', `${v1}/hosts/${installed}`, { token: admin });
    expect(ok.body.host.mdm.macos_setup).toMatchObject({ bootstrap_package_status: 'installed', detail: '' });
    const noRow = await api(server(), 'GET', `${v1}/hosts/${none}`, { token: admin });
    expect(noRow.body.host.mdm.macos_setup).toEqual({
      bootstrap_package_status: '',
      detail: '',
      bootstrap_package_name: '',
    });
  });

  it('cleans up chunks of uploads that never finished', async () => {
    const storage = randomUUID();
    await db()
      .insertInto('mdm_apple_bootstrap_package_chunks')
      .values({
        storage_id: storage,
        seq: 0,
        bytes: Buffer.from('orphan'),
        created_at: dbNow(-2 * 86400_000),
      })
      .execute();
    const fresh = randomUUID();
    await db()
      .insertInto('mdm_apple_bootstrap_package_chunks')
      .values({ storage_id: fresh, seq: 0, bytes: Buffer.from('uploading'), created_at: dbNow() })
      .execute();
    expect(await server().app.services.appleBootstrap.cleanupOrphans()).toBe(1);
    const left = await db().selectFrom('mdm_apple_bootstrap_package_chunks').select('storage_id').execute();
    expect(left.map((r) => r.storage_id)).toContain(fresh);
    expect(left.map((r) => r.storage_id)).not.toContain(storage);
    await db().deleteFrom('mdm_apple_bootstrap_package_chunks').where('storage_id', '=', fresh).execute();
  });
});
