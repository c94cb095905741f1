import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every setting in the config schema by its env var', () => {
    const missing = Object.keys(configSchema.shape)
      .map((key) => `FLOTILLA_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`)
      .filter((envVar) => !readme.includes(`\`${envVar}\``));
    expect(missing).toEqual([]);
  });

  it('gives the two commands: run it and test it', () => {
    expect(readme).toContain('npm start');
    expect(readme).toContain('npm test');
  });
});
