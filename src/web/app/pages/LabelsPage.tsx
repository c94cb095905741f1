/** Labels: not built yet. */
export function LabelsPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>Labels</h1>
    </section>
  );
}
