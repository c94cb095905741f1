/** An import refused before anything was written (wrong schema, wrong key, bad option): safe to print. */
export class ImportError extends Error {}
