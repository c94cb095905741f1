/** Activities: not built yet. */
export function ActivitiesPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>Activities</h1>
    </section>
  );
}
