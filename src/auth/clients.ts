// SMART Backend Services client registrations, read once at start from AUTH_CLIENTS_FILE:
//   { "clients": [ { "client_id": "lab-1",
//                    "jwks": { "keys": [ …public JWKs… ] }        (inline key set) or
//                    "jwks_uri": "https://lab.example/jwks.json",  (fetched, cached, rotation on unknown kid)
//                    "scope": "system/Immunization.cruds system/Patient.rs",   (what it may be granted)
//                    "organization": "Organization/lab-1" } ] }  (optional: put in issued tokens)
// A bare array of clients is accepted too. A broken file stops the server from starting.
import { readFileSync } from 'node:fs';
import type { JSONWebKeySet } from 'jose';
import { publicKeySet } from './jwks-cache.js';

export interface ClientRegistration {
  clientId: string;
  /** Inline public key set. Exactly one of jwks / jwksUri. */
  jwks?: JSONWebKeySet;
  jwksUri?: string;
  /** Space-separated scopes the client may be granted. */
  scope: string;
  /** `Organization/<id>` the client acts for; absent for a public-health system client. */
  organization?: string;
}

const ORGANIZATION = /^Organization\/[A-Za-z0-9\-.]{1,64}$/;

/** Reads and checks the registration file; no file configured means no clients. */
export function loadClients(file: string | undefined): ClientRegistration[] {
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`AUTH_CLIENTS_FILE ${file} cannot be read: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`AUTH_CLIENTS_FILE ${file} is not JSON: ${(err as Error).message}`);
  }
  return parseClients(json, file);
}

export function parseClients(json: unknown, source = 'client registrations'): ClientRegistration[] {
  const list = Array.isArray(json) ? json : (json as { clients?: unknown } | null)?.clients;
  if (!Array.isArray(list)) throw new Error(`${source}: expected {"clients": [...]} or an array of clients`);
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const where = `${source}: client #${i + 1}`;
    if (typeof entry !== 'object' || entry === null) throw new Error(`${where} is not an object`);
    const raw = entry as Record<string, unknown>;
    const clientId = raw.client_id;
    if (typeof clientId !== 'string' || !clientId.trim()) throw new Error(`${where} has no client_id`);
    if (seen.has(clientId)) throw new Error(`${where}: client_id "${clientId}" is registered twice`);
    seen.add(clientId);
    const scope = raw.scope;
    if (typeof scope !== 'string' || !scope.trim()) throw new Error(`${where} (${clientId}) has no scope`);
    if (raw.organization !== undefined && (typeof raw.organization !== 'string' || !ORGANIZATION.test(raw.organization))) {
      throw new Error(`${where} (${clientId}): organization must look like "Organization/<id>"`);
    }
    if ((raw.jwks === undefined) === (raw.jwks_uri === undefined)) {
      throw new Error(`${where} (${clientId}) needs exactly one of jwks and jwks_uri`);
    }
    const registration: ClientRegistration = { clientId, scope: scope.trim() };
    if (typeof raw.organization === 'string') registration.organization = raw.organization;
    if (raw.jwks !== undefined) {
      const keys = (raw.jwks as { keys?: unknown[] } | null)?.keys;
      if (Array.isArray(keys) && keys.some((k) => typeof k === 'object' && k !== null && 'd' in k)) {
        throw new Error(`${where} (${clientId}): jwks holds a private key; register the public key only`);
      }
      const jwks = publicKeySet(raw.jwks);
      if (!jwks || jwks.keys.length === 0) throw new Error(`${where} (${clientId}): jwks must be a JWK Set with keys`);
      registration.jwks = jwks;
    } else {
      let url: URL;
      try {
        url = new URL(String(raw.jwks_uri));
      } catch {
        throw new Error(`${where} (${clientId}): jwks_uri is not a URL`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${where} (${clientId}): jwks_uri must be http(s)`);
      registration.jwksUri = url.toString();
    }
    return registration;
  });
}
