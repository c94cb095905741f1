/** Dashboard: not built yet. */
export function DashboardPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>Dashboard</h1>
    </section>
  );
}
