/** Hosts: not built yet. */
export function HostsPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>Hosts</h1>
    </section>
  );
}
