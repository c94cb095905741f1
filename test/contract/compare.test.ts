import { describe, expect, it } from 'vitest';
import { applyErrata, compareShape } from './compare.js';

describe('contract comparison', () => {
  it('compares JSON types and key sets recursively, not values', () => {
    expect(compareShape({ a: 1, b: { c: 'x' } }, { a: 2, b: { c: 'y' } })).toEqual([]);
    expect(compareShape({ a: 1, b: { c: 'x' } }, { a: '1', b: { d: 'y' } })).toEqual([
      { path: 'a', problem: 'type string, documented number' },
      { path: 'b.c', problem: 'missing (documented)' },
      { path: 'b.d', problem: 'not documented' },
    ]);
  });

  it('compares every element of an array with the first documented one', () => {
    const doc = { items: [{ id: 1, name: 'a' }, { id: 2 }] };
    expect(
      compareShape(doc, {
        items: [
          { id: 3, name: 'b' },
          { id: 4, name: 'c' },
        ],
      }),
    ).toEqual([]);
    expect(compareShape(doc, { items: [{ id: 3, name: 'b' }, { id: 4 }] })).toEqual([
      { path: 'items[].name', problem: 'missing (documented)' },
    ]);
  });

  it('needs an element somewhere for a documented non-empty array, unless it is nullable', () => {
    const doc = { users: [{ teams: [{ id: 1 }] }] };
    expect(compareShape(doc, { users: [{ teams: [] }, { teams: [{ id: 2 }] }] })).toEqual([]);
    expect(compareShape(doc, { users: [{ teams: [] }] })).toEqual([
      { path: 'users[].teams[]', problem: 'always empty: the seed must give elements to compare' },
    ]);
    expect(compareShape({ list: [1] }, { list: [] }, { nullable: ['list'] })).toEqual([]);
  });

  it('lets a documented omitempty key be absent, and still compares it when present', () => {
    expect(compareShape({ l: [{ n: 1 }] }, { l: [{}, { n: 2 }] }, { omitempty: ['l[].n'] })).toEqual([]);
    expect(compareShape({ l: [{ n: 1 }] }, { l: [{ n: 'x' }] }, { omitempty: ['l[].n'] })).toEqual([
      { path: 'l[].n', problem: 'type string, documented number' },
    ]);
    expect(compareShape({ l: [{ n: 1 }] }, { l: [{}] })).toEqual([
      { path: 'l[].n', problem: 'missing (documented)' },
    ]);
  });

  it('reads a documented null as any value, and accepts null for a documented scalar only', () => {
    expect(compareShape({ a: null }, { a: { deep: [1] } })).toEqual([]);
    expect(compareShape({ a: 'x', b: 1, c: true }, { a: null, b: null, c: null })).toEqual([]);
    expect(compareShape({ a: [1], b: { c: 1 } }, { a: null, b: null })).toEqual([
      { path: 'a', problem: 'type null, documented array' },
      { path: 'b', problem: 'type null, documented object' },
    ]);
    expect(compareShape({ a: [1] }, { a: null }, { nullable: ['a'] })).toEqual([]);
  });

  it('skips subtrees, compares opaque ones by type, and ignores fleet_* aliases of team_* keys', () => {
    expect(compareShape({ a: { b: 1 } }, { a: { c: 1 } }, { skip: ['a.b', 'a.c'] })).toEqual([]);
    expect(compareShape({ d: { x: 1 } }, { d: { y: 'z' } }, { opaque: ['d'] })).toEqual([]);
    expect(compareShape({ team_id: 1 }, { team_id: 1, fleet_id: 1 })).toEqual([]);
    expect(compareShape({ id: 1 }, { id: 1, fleet_id: 1 })).toEqual([
      { path: 'fleet_id', problem: 'not documented' },
    ]);
  });

  it('applies errata to a copy, and refuses one that does not fit the example', () => {
    const doc = { user: { enabled: true }, list: [{ a: 1 }, { a: 2, b: 3 }] };
    const fixed = applyErrata(doc, [
      { path: 'user.enabled', op: 'remove', reason: 'r' },
      { path: 'user.api_only', op: 'add', value: false, reason: 'r' },
      { path: 'list[].b', op: 'remove', reason: 'r' },
      { path: '(status)', op: 'set', value: 202, reason: 'r' },
    ]);
    expect(fixed).toEqual({ user: { api_only: false }, list: [{ a: 1 }, { a: 2 }] });
    expect(doc.user).toEqual({ enabled: true });
    expect(() => applyErrata(doc, [{ path: 'user.missing', op: 'remove', reason: 'r' }])).toThrow();
    expect(() => applyErrata(doc, [{ path: 'nothing.here', op: 'add', value: 1, reason: 'r' }])).toThrow();
  });
});
