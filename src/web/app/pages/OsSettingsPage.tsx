/** OS settings: not built yet. */
export function OsSettingsPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>OS settings</h1>
    </section>
  );
}
