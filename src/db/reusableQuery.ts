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
    return this.executeOn(this.db, ...args);
  }

  /** The same, on another executor of the same database (a transaction). */
  async executeOn(executor: QueryExecutorLike, ...args: Args): Promise<QueryResult<Row>> {
    const c = (this.compiled ??= this.compile());
    const parameters = c.slots.map((slot, i) => (slot === undefined ? c.parameters[i] : args[slot]));
    return executor.executeQuery<Row>(CompiledQuery.raw(c.sql, parameters));
  }
}

/** What runs a compiled query: the database or one of its transactions. */
export type QueryExecutorLike = Pick<Kysely<any>, 'executeQuery'>;

/**
 * Statements whose SQL depends only on a count (the rows of a batch, the pairs of an OR list): one
 * ReusableQuery per count, built on first use. Batches of the Apple group commit hold a handful of
 * reports, so a few sizes cover them; sizes above `maxCached` are compiled each time, which keeps
 * the cache small.
 */
export class ReusableQueriesBySize<Row> {
  private readonly bySize = new Map<number, ReusableQuery<unknown[], Row>>();

  constructor(
    private readonly db: Kysely<any>,
    /** The statement for `size`, with `markers[i]` wherever argument i goes. */
    private readonly build: (size: number, markers: unknown[]) => Compilable<Row>,
    /** How many arguments the statement for `size` takes. */
    private readonly arityOf: (size: number) => number,
    private readonly maxCached = 64,
  ) {}

  execute(executor: QueryExecutorLike, size: number, args: unknown[]): Promise<QueryResult<Row>> {
    let q = this.bySize.get(size);
    if (!q) {
      q = new ReusableQuery<unknown[], Row>(this.db, (...m) => this.build(size, m), this.arityOf(size));
      if (size <= this.maxCached) this.bySize.set(size, q);
    }
    return q.executeOn(executor, ...args);
  }
}
