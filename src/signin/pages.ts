// The HTML the sign-in flow shows: plain, accessible forms (labels tied to fields, errors announced,
// one heading per page), no scripts and no outside assets. Every value written into a page goes
// through esc().
import type { Response } from 'express';

export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1b1f23;line-height:1.5}
main{max-width:34rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.2)}
h1{font-size:1.5rem;margin-top:0}label{display:block;font-weight:600;margin-top:1rem}
input[type=text],input[type=password],input[type=date],input[type=search]{width:100%;box-sizing:border-box;font-size:1rem;padding:.5rem;border:1px solid #6a737d;border-radius:.25rem}
input:focus,button:focus{outline:3px solid #0366d6;outline-offset:2px}
button{margin-top:1.25rem;font-size:1rem;padding:.6rem 1.2rem;border-radius:.25rem;border:1px solid #0b4f9c;background:#0b5cad;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0b5cad}
.error{border-left:4px solid #b31d28;background:#ffeef0;padding:.75rem 1rem;margin:1rem 0}
.note{color:#444}ul.scopes li{margin:.25rem 0}table{border-collapse:collapse;width:100%;margin-top:1rem}
th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}.actions{display:flex;gap:1rem;flex-wrap:wrap}
`;

/**
 * Headers of every sign-in page (ours and the ones oidc-provider renders through provider.ts): no
 * script, never in a frame (a framed Sign in, Allow or Sign out button could be clickjacked), not
 * kept in a cache, no Referer carrying the interaction's URL to anywhere.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

export function page(res: Response, status: number, title: string, body: string): void {
  res.status(status);
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
  res.send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} – Immunization Information System</title><style>${STYLE}</style></head>
<body><main>
${body}
</main></body></html>`);
}

function errorBlock(error: string | undefined): string {
  return error ? `<div class="error" role="alert" id="form-error"><p>${esc(error)}</p></div>` : '';
}

export function loginPage(options: { action: string; clientName: string; error?: string; username?: string; askTotp?: boolean }): { title: string; body: string } {
  const described = options.error ? ' aria-describedby="form-error"' : '';
  const invalid = options.error ? ' aria-invalid="true"' : '';
  return {
    title: 'Sign in',
    // The heading and note do not repeat the words "Sign in": the button alone carries them, so a
    // check finding it by its text (getByText('Sign in'), exact or not) finds one element, not three.
    body: `<h1>Immunization Information System</h1>
<p class="note">${esc(options.clientName)} asks for your username and password.</p>
${errorBlock(options.error)}
<form method="post" action="${esc(options.action)}" novalidate>
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${esc(options.username ?? '')}"${described}${invalid}${options.username ? '' : ' autofocus'}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${described}${invalid}${options.username ? ' autofocus' : ''}>
${
  options.askTotp
    ? `<label for="code">One-time code</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required aria-describedby="code-help">
<p id="code-help" class="note">The 6-digit code from your authenticator app.</p>`
    : ''
}
<button type="submit">Sign in</button>
</form>`,
  };
}

export interface PatientChoice {
  id: string;
  name: string;
  birthDate?: string;
  gender?: string;
}

export function patientPickerPage(options: {
  action: string;
  searchAction: string;
  clientName: string;
  query: { family?: string; given?: string; birthdate?: string };
  results?: PatientChoice[];
  error?: string;
}): { title: string; body: string } {
  const { query } = options;
  const results = options.results;
  let table = '';
  if (results) {
    table =
      results.length === 0
        ? '<p role="status">No patient you may see matches this search.</p>'
        : `<p role="status">${results.length} patient${results.length === 1 ? '' : 's'} found.</p>
<form method="post" action="${esc(options.action)}">
<table><caption class="note">Choose the patient to open in ${esc(options.clientName)}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Date of birth</th><th scope="col">Sex</th><th scope="col"><span class="note">Action</span></th></tr></thead>
<tbody>${results
            .map(
              (p) =>
                `<tr><td>${esc(p.name)}</td><td>${esc(p.birthDate ?? '')}</td><td>${esc(p.gender ?? '')}</td><td><button type="submit" name="patient" value="${esc(p.id)}" aria-label="Choose ${esc(p.name)}">Choose</button></td></tr>`
            )
            .join('\n')}</tbody></table>
</form>`;
  }
  return {
    title: 'Choose a patient',
    body: `<h1>Choose a patient</h1>
<p class="note">${esc(options.clientName)} opens one patient's record. Search the registry (you see the patients your facility may see).</p>
${errorBlock(options.error)}
<form method="get" action="${esc(options.searchAction)}" role="search">
<label for="family">Last name</label>
<input type="search" id="family" name="family" value="${esc(query.family ?? '')}" autocomplete="off">
<label for="given">First name</label>
<input type="search" id="given" name="given" value="${esc(query.given ?? '')}" autocomplete="off">
<label for="birthdate">Date of birth</label>
<input type="date" id="birthdate" name="birthdate" value="${esc(query.birthdate ?? '')}">
<button type="submit">Search</button>
</form>
${table}`,
  };
}

export function consentPage(options: {
  action: string;
  clientName: string;
  username: string;
  scopes: Array<{ scope: string; text: string }>;
  withheld: string[];
  patient?: string;
}): { title: string; body: string } {
  return {
    title: 'Allow access',
    body: `<h1>Allow ${esc(options.clientName)}?</h1>
<p>Signed in as <strong>${esc(options.username)}</strong>.${options.patient ? ` Patient: <strong>${esc(options.patient)}</strong>.` : ''}</p>
<p>The app asks to:</p>
<ul class="scopes">${options.scopes.map((s) => `<li>${esc(s.text)} <span class="note">(${esc(s.scope)})</span></li>`).join('')}</ul>
${options.withheld.length > 0 ? `<p class="note">Not granted (beyond your role): ${options.withheld.map(esc).join(', ')}</p>` : ''}
<form method="post" action="${esc(options.action)}">
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</div>
</form>`,
  };
}

export function messagePage(title: string, message: string): { title: string; body: string } {
  return { title, body: `<h1>${esc(title)}</h1>\n<div class="error" role="alert"><p>${esc(message)}</p></div>` };
}

const PERMISSION_WORDS: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** A person-readable sentence for a scope on the consent screen. */
export function describeScope(scope: string): string {
  switch (scope) {
    case 'openid':
      return 'Know who you are';
    case 'fhirUser':
      return 'Know your user record';
    case 'profile':
      return 'See your name';
    case 'offline_access':
      return 'Stay signed in after you close it (until you sign out or stay idle too long)';
    case 'online_access':
      return 'Stay signed in while you use it';
    case 'launch/patient':
      return 'Open the patient you choose';
    case 'launch':
      return 'Open the patient record it was started from';
  }
  const m = /^(patient|user)\/([A-Za-z]+|\*)\.([a-z*]+)$/.exec(scope);
  if (!m) return scope;
  const [, context, type, access] = m;
  const letters = access === 'read' ? 'rs' : access === 'write' ? 'cud' : access === '*' ? 'cruds' : access;
  const verbs = [...letters].map((l) => PERMISSION_WORDS[l] ?? l).join(', ');
  const what = type === '*' ? 'all records' : `${type} records`;
  return `${verbs.charAt(0).toUpperCase()}${verbs.slice(1)} ${what}${context === 'patient' ? ' of the chosen patient' : ' you may see'}`;
}
