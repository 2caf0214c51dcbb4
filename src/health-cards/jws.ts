// Signs a health card: the JWT payload (iss, nbf, vc) compressed with raw DEFLATE (RFC 1951,
// node:zlib) and signed as a compact JWS with alg ES256, zip DEF and kid (SMART Health Cards
// "Health Cards are small"). jose keeps the zip header as given; it does not compress itself.
import { deflateRawSync } from 'node:zlib';
import { CompactSign } from 'jose';
import type { Bundle } from '@medplum/fhirtypes';
import { HEALTH_CARD, IMMUNIZATION_CARD } from './credential.js';
import type { SigningKey } from './issuer-keys.js';

export interface HealthCardPayload {
  iss: string;
  nbf: number;
  /** `rid`: the revocation identifier (rid.ts), on every card issued since revocation exists. */
  vc: { type: string[]; credentialSubject: { fhirVersion: string; fhirBundle: Bundle }; rid?: string };
}

/** `moreTypes`: the types of the credentialValueSets the card was restricted to (`#covid19`). */
export function healthCardPayload(issuer: string, bundle: Bundle, now: Date, rid?: string, moreTypes: readonly string[] = []): HealthCardPayload {
  return {
    iss: issuer,
    nbf: Math.floor(now.getTime() / 1000),
    vc: { type: [HEALTH_CARD, IMMUNIZATION_CARD, ...moreTypes], credentialSubject: { fhirVersion: '4.0.1', fhirBundle: bundle }, ...(rid === undefined ? {} : { rid }) },
  };
}

export async function signHealthCard(payload: HealthCardPayload, key: SigningKey): Promise<string> {
  // Level 9: the card is small and its size decides whether it fits one QR code.
  const compressed = deflateRawSync(Buffer.from(JSON.stringify(payload), 'utf8'), { level: 9 });
  return new CompactSign(compressed).setProtectedHeader({ alg: 'ES256', zip: 'DEF', kid: key.kid }).sign(key.key);
}
