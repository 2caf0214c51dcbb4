// The path a request's log line names. A SMART Health Link's id (and a manifest's single-use file
// token) is the whole credential to a child's health card: whoever holds it can spend the link's
// passcode attempts or fetch its encrypted files. Logs are read by more people than the family
// shares the link with, so those path segments are never written; the rest of the path is.
const CAPABILITY_PATH = /^(\/shl\/(?:file\/)?)[^/]+/;

export function loggablePath(url: string): string {
  const path = url.split('?')[0];
  return path.replace(CAPABILITY_PATH, '$1[redacted]');
}
