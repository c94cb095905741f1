import { escapeHtml, htmlPage, type HtmlPage } from './html.js';

/** What the signup callback answers once the enterprise is bound: a page that closes its own tab. */
export function connectedPage(): HtmlPage {
  return htmlPage(
    200,
    'Android Enterprise connected',
    `<h1>Android Enterprise is connected</h1>
<p>You can close this tab and go back to Flotilla.</p>`,
    'window.close();',
  );
}

/** The signup callback could not bind the enterprise (Google refused or could not be reached). */
export function connectFailedPage(status: number, reason: string): HtmlPage {
  return htmlPage(
    status,
    'Android Enterprise not connected',
    `<h1>Android Enterprise was not connected</h1>
<p class="error">${escapeHtml(reason)}</p>
<p>Nothing was changed. Start again from Flotilla's MDM settings (Connect Android Enterprise).</p>`,
  );
}
