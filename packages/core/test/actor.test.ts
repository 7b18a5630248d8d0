import { describe, expect, it } from 'vitest';
import { Actor, ADMIN_OWNER, formatOwnerMark, isTunnelError, parseOwnerMark, parseProjectName } from '../src/index.js';

describe('Actor and project names', () => {
  it.each(['a', 'alpha', 'my-app-2', '0day', 'a'.repeat(63)])('accepts project %j', (name) => {
    expect(Actor.project(name)).toEqual({ kind: 'project', project: name });
  });

  it.each(['', 'Alpha', '-a', 'a_b', 'a b', 'a'.repeat(64), 'a\n', '../etc', 'é', '@admin'])(
    'refuses project %j with INVALID_INPUT',
    (name) => {
      try {
        parseProjectName(name);
        throw new Error('expected failure');
      } catch (error) {
        expect(isTunnelError(error, 'INVALID_INPUT')).toBe(true);
        expect((error as { hint: string }).hint).toMatch(/1–63/);
      }
    },
  );

  it('describes, parses and scopes actors', () => {
    const alpha = Actor.project('alpha');
    expect(Actor.describe(alpha)).toBe('project:alpha');
    expect(Actor.describe(Actor.admin())).toBe('admin');
    expect(Actor.parse('project:alpha')).toEqual(alpha);
    expect(Actor.parse('admin')).toEqual(Actor.admin());
    expect(() => Actor.parse('root')).toThrowError(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(Actor.mayActOn(alpha, 'alpha')).toBe(true);
    expect(Actor.mayActOn(alpha, 'beta')).toBe(false);
    expect(Actor.mayActOn(Actor.admin(), 'beta')).toBe(true);
    expect(Actor.owner(Actor.admin())).toBe(ADMIN_OWNER);
  });

  it('round-trips owner marks and ignores foreign comments', () => {
    expect(parseOwnerMark(formatOwnerMark('alpha', 'vm-1'))).toEqual({ owner: 'alpha', instance: 'vm-1' });
    expect(parseOwnerMark(formatOwnerMark(ADMIN_OWNER, 'vm-1'))).toEqual({ owner: ADMIN_OWNER, instance: 'vm-1' });
    expect(formatOwnerMark('a'.repeat(63), 'b'.repeat(20)).length).toBeLessThanOrEqual(100);
    expect(parseOwnerMark('made by hand')).toBeNull();
    expect(parseOwnerMark(null)).toBeNull();
    expect(parseOwnerMark('tunnel-manager:Not_Valid')).toBeNull();
  });
});
