import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.js';

/** Every migration, in order. Names never change once released; new ones go at the end. */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
};
