/** Host: not built yet. */
export function HostPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>Host</h1>
    </section>
  );
}
