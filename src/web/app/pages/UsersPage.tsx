/** Users: not built yet. */
export function UsersPage(_props: { params: Record<string, string> }) {
  return (
    <section>
      <h1>Users</h1>
    </section>
  );
}
