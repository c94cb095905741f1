/** Teams: not built yet. */
export function TeamsPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>Teams</h1>
    </section>
  );
}
