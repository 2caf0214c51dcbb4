// The signed-in session every screen reads: the API door and who the user is.
import { createContext, useContext } from 'react';
import type { Api, SessionInfo } from './fhir';

export interface Session {
  api: Api;
  info: SessionInfo;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}
