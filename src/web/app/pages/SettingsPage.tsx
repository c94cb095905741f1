/** Settings: not built yet. */
export function SettingsPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>Settings</h1>
    </section>
  );
}
