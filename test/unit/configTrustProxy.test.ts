import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('trustProxy setting', () => {
  it.each([
    [undefined, false],
    ['false', false],
    ['true', true],
    ['2', 2],
    ['10.0.0.0/8, 127.0.0.1', ['10.0.0.0/8', '127.0.0.1']],
  ])('reads FLOTILLA_TRUST_PROXY=%s', (value, expected) => {
    const env: Record<string, string> = value === undefined ? {} : { FLOTILLA_TRUST_PROXY: value };
    expect(loadConfig(env).trustProxy).toEqual(expected);
  });
});
