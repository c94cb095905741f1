import { roles, type Role } from '../../../../admin/roles.js';

export { roles, type Role };

/** Fleet's role names as people read them. */
export const roleLabels: Record<Role, string> = {
  admin: 'Admin',
  maintainer: 'Maintainer',
  observer: 'Observer',
  observer_plus: 'Observer+',
  gitops: 'GitOps',
};

export function roleLabel(role: string | null | undefined): string {
  return role && role in roleLabels ? roleLabels[role as Role] : (role ?? '—');
}
