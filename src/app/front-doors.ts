// Front doors other than FHIR REST at /fhir: HL7 v2 (/hl7v2), SOAP (/soap), sign-in (/auth/...),
// the web app (/app). Each is an express Router the server mounts before /fhir; it authenticates
// its own way and then runs FHIR requests as that caller through the same pipeline as /fhir
// (scopes, caller-scoped store, data sharing, audit) with `services.pipeline.executeAs`.
// To add one: write `export function myFrontDoor(services: FrontDoorServices): Router` in your
// folder and add it to FRONT_DOORS below.
import type { FrontDoor } from '../pipeline/front-door.js';
import { hl7v2FrontDoor } from '../hl7v2/http.js';
import { healthCardsFrontDoor } from '../health-cards/issuer.js';
import { healthLinksFrontDoor } from '../health-cards/link-manifest.js';
import { webAppRouter } from '../http/web-app.js';
import { signinFrontDoor } from '../signin/index.js';

/** Mounted in this order, after /healthz, /readyz, /metrics and the SMART token endpoint. */
export const FRONT_DOORS: FrontDoor[] = [
  // HL7 v2 VXU / QBP over POST /hl7v2 and the CDC SOAP service at /soap (src/hl7v2). First: its
  // paths are its own, and a message then no longer walks the sign-in routers' layers first:
  // ~40-60 µs of CPU per request measured in process (GET /soap, 10,000 requests, 2 x 3 runs).
  hl7v2FrontDoor,
  // Sign-in for people: the SMART App Launch authorization server, its pages and account
  // administration under /auth (src/signin); codes and refresh tokens at POST /auth/token.
  signinFrontDoor,
  // SMART Health Cards issuer keys at GET /.well-known/jwks.json (src/health-cards).
  healthCardsFrontDoor,
  // SMART Health Links: the manifest (POST /shl/{id}) and single-use file URLs, without a token.
  healthLinksFrontDoor,
  // The clinic web app's static files at /app (src/http/web-app.ts); it calls /fhir with its SMART token.
  (services) => webAppRouter(services.config.webAppDir),
];
