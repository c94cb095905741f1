import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Sample protocol messages kept in test/vectors/<kind>/ (copied from public sources, see its README). */
export function vectorPath(kind: 'apple' | 'windows' | 'orbit', name: string): string {
  return fileURLToPath(new URL(`../vectors/${kind}/${name}`, import.meta.url));
}

export function readVector(kind: 'apple' | 'windows' | 'orbit', name: string): Buffer {
  return readFileSync(vectorPath(kind, name));
}
