import { expect, it } from 'vitest';
import { describeEachDialect } from '../helpers/testServer.js';

describeEachDialect('host store and label membership states', (server) => {
  it('creates hosts with built-in label memberships known from the platform', async () => {
    const { hostStore, labelStore } = server().app.services;
    const id = await hostStore.create({ uuid: 'UUID-STORE-1', platform: 'ios', hardware_serial: 'SER1' });
    const host = await hostStore.getById(id);
    expect(host).toMatchObject({
      uuid: 'UUID-STORE-1',
      platform: 'ios',
      team_id: null,
      refetch_requested: false,
    });
    const states = await labelStore.membershipStates(id);
    const byName = new Map(states.map((s) => [s.name, s.isMember]));
    expect(byName.get('All Hosts')).toBe(true);
    expect(byName.get('iOS')).toBe(true);
    expect(byName.get('macOS')).toBe(false);
    expect((await hostStore.findByUuidOrSerial('nope', 'SER1'))?.id).toBe(id);
  });

  it('reports member, not a member and not yet known for dynamic and manual labels', async () => {
    const { hostStore, labelStore } = server().app.services;
    const id = await hostStore.create({ uuid: 'UUID-STORE-2', platform: 'darwin' });
    const dynamic = await labelStore.create({
      name: 'dyn',
      description: '',
      query: 'select 1',
      platform: '',
      membershipType: 0,
      authorId: null,
    });
    const manual = await labelStore.create({
      name: 'man',
      description: '',
      query: '',
      platform: '',
      membershipType: 1,
      authorId: null,
    });
    let states = await labelStore.membershipStates(id);
    expect(states.find((s) => s.labelId === dynamic)!.isMember).toBeNull();
    expect(states.find((s) => s.labelId === manual)!.isMember).toBe(false);
    await labelStore.setMembership(dynamic, [id], false);
    await labelStore.setMembership(manual, [id], true);
    states = await labelStore.membershipStates(id);
    expect(states.find((s) => s.labelId === dynamic)!.isMember).toBe(false);
    expect(states.find((s) => s.labelId === manual)!.isMember).toBe(true);
    await hostStore.updateVitals(id, { platform: 'windows', hostname: 'win-1' });
    states = await labelStore.membershipStates(id);
    expect(states.find((s) => s.name === 'MS Windows')!.isMember).toBe(true);
    expect(states.find((s) => s.name === 'macOS')!.isMember).toBe(false);
  });

  it('maps enroll secrets to their team', async () => {
    const { enrollSecrets, teams } = server().app.services;
    const team = await teams.create(null, { name: 'Store team', secrets: ['team-secret-1'] });
    await enrollSecrets.replace(null, null, ['global-secret-1']);
    expect(await enrollSecrets.teamForSecret('team-secret-1')).toEqual({ teamId: team.id });
    expect(await enrollSecrets.teamForSecret('global-secret-1')).toEqual({ teamId: null });
    expect(await enrollSecrets.teamForSecret('unknown')).toBeUndefined();
  });
});
