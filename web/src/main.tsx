import '@mantine/core/styles.css';
import './styles.css';
import { beginCallback } from './fhir';

// Back from the sign-in page (/app/callback): the code exchange starts now, while the screens'
// code (React, Mantine, the pages: most of the bundle) is fetched and parsed, rather than after it.
// At a load average of 11–14 that parse took 70–190 ms before the exchange could start.
beginCallback();

void Promise.all([import('react-dom/client'), import('./App')]).then(([{ createRoot }, { App }]) => {
  createRoot(document.getElementById('root') as HTMLElement).render(<App />);
});
