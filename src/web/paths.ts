/**
 * The console's pages, by path. The server answers these with the console's index.html and the
 * browser's router draws them, so a reload or a bookmarked link lands on the same page. Shared by
 * both sides so neither can add a page the other does not know.
 */
export const consolePages = {
  login: '/login',
  setup: '/setup',
  dashboard: '/dashboard',
  hosts: '/hosts/manage',
  host: '/hosts/:id',
  osSettings: '/controls/os-settings',
  teams: '/settings/teams',
  labels: '/labels/manage',
  users: '/settings/users',
  activities: '/activities',
  settings: '/settings/organization',
} as const;

export type ConsolePage = keyof typeof consolePages;
