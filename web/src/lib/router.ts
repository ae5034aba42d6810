// Hash routes (#/images/ID): the server serves one page, and a route never
// reaches the server, so no path under /dashboard/ can shadow anything.

import { useEffect, useState } from 'preact/hooks';

export interface Route {
  parts: string[];
  query: URLSearchParams;
}

function current(): Route {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path = '', q = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q) };
}

export function useRoute(): Route {
  const [r, setR] = useState(current());
  useEffect(() => {
    const on = () => setR(current());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return r;
}

export function go(path: string): void {
  location.hash = `#/${path}`;
}

export const href = (path: string) => `#/${path}`;
