// What the session's access token allows, read from its scopes (the registry still decides).

/**
 * Whether the session's scopes let the user create this type (SMART v2 `c`, or v1 `write` / `*`),
 * so a screen can say so before the registry refuses: a data-entry user or a site administrator
 * could choose Yes / No for data sharing and only then be told their account may not.
 */
export function mayCreate(info: { scopes?: string[] }, type: string): boolean {
  if (!info.scopes) return true;
  return info.scopes.some((scope) => {
    const match = /^(?:user|patient)\/([A-Za-z*]+)\.([a-z*]+)$/.exec(scope);
    if (!match || (match[1] !== '*' && match[1] !== type)) return false;
    const access = match[2];
    return access === '*' || access === 'write' || (/^c?r?u?d?s?$/.test(access) && access.includes('c'));
  });
}
