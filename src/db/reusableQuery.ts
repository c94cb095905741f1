import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';

/**
 * A Kysely query built and compiled once, then run many times with new parameter values. On the
 * device hot path building a query (its immutable tree, then the SQL text) costs more CPU than
 * the database spends running it. `build` receives one marker per parameter and uses each where
 * the value goes (as a bound value, never as SQL text); the markers' places in the compiled
 * parameter list are remembered, and later runs put the real values there (a marker the query
 * does not use is ignored).
 */
export class ReusableQuery<Args extends unknown[], Row> {
  private compiled?: { sql: string; parameters: readonly unknown[]; slots: (number | undefined)[] };

  constructor(
    private readonly db: Kysely<any>,
    private readonly build: (...markers: Args) => Compilable<Row>,
    private readonly arity: number,
  ) {}

  private compile() {
    const markers = Array.from({ length: this.arity }, (_, i) => `\u0001reusable-query-parameter-${i}\u0001`);
    const q = this.build(...(markers as Args)).compile();
    const slots = q.parameters.map((p) => {
      const i = markers.indexOf(p as string);
      return i >= 0 ? i : undefined;
    });
    return { sql: q.sql, parameters: q.parameters, slots };
  }

  async execute(...args: Args): Promise<QueryResult<Row>> {
    const c = (this.compiled ??= this.compile());
    const parameters = c.slots.map((slot, i) => (slot === undefined ? c.parameters[i] : args[slot]));
    return this.db.executeQuery<Row>(CompiledQuery.raw(c.sql, parameters));
  }
}
