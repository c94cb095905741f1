/**
 * osquery runs a query's discovery SQL first and runs the query only when the discovery returns a
 * row. Fleet's discoveries are table-existence checks on `osquery_registry`, alone or combined as
 * `SELECT 1 WHERE [NOT] EXISTS (...) AND [NOT] EXISTS (...)`; those are decided here from the
 * machine's set of tables. Any other discovery is decided by `other` (default: no row).
 */
const registryCheck =
  /SELECT 1 FROM osquery_registry WHERE active = (?:true|1) AND registry = 'table' AND name = '([^']+)'/i;

const normalize = (sql: string) => sql.replace(/\s+/g, ' ').trim().replace(/;\s*$/, '').trim();

export function discoveryPasses(
  sql: string,
  tables: ReadonlySet<string>,
  other: (sql: string) => boolean = () => false,
): boolean {
  const q = normalize(sql);
  // Fleet sends `SELECT 1` as the discovery of queries that always run.
  if (!q || /^SELECT 1$/i.test(q)) return true;
  const whole = new RegExp(`^${registryCheck.source}$`, 'i').exec(q);
  if (whole) return tables.has(whole[1]);
  const m = /^SELECT 1 WHERE (.+)$/i.exec(q);
  if (!m) return other(sql);
  const terms = m[1].split(/ AND (?=(?:NOT )?EXISTS)/i);
  const values: boolean[] = [];
  for (const term of terms) {
    const t = /^(NOT )?EXISTS ?\((.+)\)$/i.exec(term.trim());
    const check = t && new RegExp(`^${registryCheck.source}$`, 'i').exec(normalize(t[2]));
    if (!t || !check) return other(sql);
    values.push(tables.has(check[1]) !== Boolean(t[1]));
  }
  return values.every(Boolean);
}
